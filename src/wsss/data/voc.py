"""PASCAL VOC layout: ``JPEGImages/``, ``SegmentationClass[Aug]/``, ``ImageSets/Segmentation/``.

Image labels come from ``Annotations/<id>.xml`` object names, from the classes present in
the masks (VOC without XML files, as in the shared real data sets), or from a labels file in
the ``labels.csv`` format of the folder reader.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wsss.data.base import (
    Problem,
    SegDataset,
    available_splits,
    encode_names,
    problem_from_error,
    read_id_list,
    require_dir,
    resolve_path,
)
from wsss.data.classes import VOC_CLASSES, ClassSet, load_classes
from wsss.data.folder import read_labels_csv
from wsss.io import DataFileError, read_label_png
from wsss.progress import progress as progress_bar

MASK_DIRS = ("SegmentationClassAug", "SegmentationClass")  # preference order for mask_dir: auto
LabelsOfOne = tuple[np.ndarray, list[Problem]]
Labels = tuple[dict[str, np.ndarray], list[Problem]]


class VocDataset(SegDataset):
    """One split of a VOC-layout folder (any split name in ``ImageSets/Segmentation``)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        classes: str | Path | None = None,
        labels: str = "auto",
        mask_dir: str = "auto",
        strict: bool = True,
        progress: bool = True,
    ) -> None:
        self.root = require_dir(Path(root), "dataset folder")
        split_file = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not split_file.is_file():
            raise DataFileError(f"{split_file}: split '{split}' not found; available splits: "
                                f"{available_splits(split_file.parent)}")
        ids, problems = read_id_list(split_file)
        class_set = _voc_classes(self.root, classes)
        self._masks = _mask_folder(self.root, ids, mask_dir)
        label_table, label_problems = self._read_labels(labels, ids, class_set, progress)
        super().__init__(ids, class_set, label_table, source=split_file,
                         has_masks=self._masks is not None,
                         problems=problems + label_problems, strict=strict)

    def image_path(self, id: str) -> Path:
        return self.root / "JPEGImages" / f"{id}.jpg"

    def mask_path(self, id: str) -> Path | None:
        return None if self._masks is None else self._masks / f"{id}.png"

    def _read_labels(self, source: str, ids: list[str], classes: ClassSet, progress: bool) -> Labels:
        annotations = self.root / "Annotations"
        if source == "auto":
            source = "xml" if annotations.is_dir() else "masks"
        if source == "xml":
            require_dir(annotations, "Annotations folder (data.labels: xml)")
            return _collect(ids, lambda id: _xml_labels(annotations / f"{id}.xml", classes),
                            "image labels from XML", progress)
        if source == "masks":
            if self._masks is None:
                raise DataFileError(
                    f"{self.root}: no Annotations/ and no masks for this split, so image labels "
                    f"cannot be derived; set data.labels to a labels file (id,tags)"
                )
            return _collect(ids, lambda id: _mask_labels(self._masks / f"{id}.png", classes),
                            "image labels from masks", progress)
        return _file_labels(resolve_path(self.root, source), ids, classes)


def _collect(ids: list[str], read: Callable[[str], LabelsOfOne], desc: str, progress: bool) -> Labels:
    """Labels of every id (one file read each, behind a progress bar when ``progress``) and
    all problems met."""
    table, problems = {}, []
    for id in progress_bar(ids, desc, progress, total=len(ids)):
        table[id], found = read(id)
        problems += found
    return table, problems


def _file_labels(path: Path, ids: list[str], classes: ClassSet) -> Labels:
    """Labels of ``ids`` from a labels file (id,tags); an id without a row is a Problem."""
    table, problems = read_labels_csv(path, classes)
    missing = [id for id in ids if id not in table]
    problems += [Problem(path, f"no row for id '{id}'; add a line '{id},<tags>'") for id in missing]
    return {id: table.get(id, classes.multi_hot([])) for id in ids}, problems


def _xml_labels(path: Path, classes: ClassSet) -> LabelsOfOne:
    """The object names of one annotation file."""
    try:
        names = [node.text.strip() for node in ET.parse(path).getroot().iterfind("object/name")]
    except FileNotFoundError:
        hint = "add it or set data.labels to masks or a labels file"
        return classes.multi_hot([]), [Problem(path, f"annotation file not found; {hint}")]
    except (ET.ParseError, AttributeError) as err:
        return classes.multi_hot([]), [Problem(path, f"cannot parse annotation ({err}); fix it")]
    return encode_names(names, classes, path, "")


def _mask_labels(path: Path, classes: ClassSet) -> LabelsOfOne:
    """Every foreground class with at least one pixel in the mask."""
    if not path.is_file():
        hint = "add it, remove its id from the split file, or set data.labels to a labels file"
        return classes.multi_hot([]), [Problem(path, f"mask not found; image labels come from the masks; {hint}")]
    try:
        return classes.labels_from_mask(read_label_png(path)), []
    except DataFileError as err:
        return classes.multi_hot([]), [problem_from_error(path, err)]


def _voc_classes(root: Path, classes: str | Path | None) -> ClassSet:
    """``data.classes`` if given, else ``root/classes.txt`` if present, else the 21 VOC classes."""
    if classes is not None:
        return load_classes(resolve_path(root, classes))
    default = root / "classes.txt"
    return load_classes(default) if default.is_file() else VOC_CLASSES


def _mask_folder(root: Path, ids: list[str], mask_dir: str) -> Path | None:
    """The folder of the split's masks; None when it holds no mask of the split."""
    folder = _pick_mask_folder(root, ids, mask_dir)
    if folder is None or not any((folder / f"{id}.png").is_file() for id in ids):
        return None
    return folder


def _pick_mask_folder(root: Path, ids: list[str], mask_dir: str) -> Path | None:
    """The named mask folder, or for ``auto`` SegmentationClassAug when it holds every id of
    the split, else SegmentationClass (None when neither exists)."""
    if mask_dir != "auto":
        return require_dir(root / mask_dir, f"mask folder (data.mask_dir: {mask_dir})")
    aug, plain = (root / name for name in MASK_DIRS)
    if aug.is_dir() and all((aug / f"{id}.png").is_file() for id in ids):
        return aug
    return next((folder for folder in (plain, aug) if folder.is_dir()), None)
