"""COCO 2014 as it ships: ``<root>/<split>2014/*.jpg`` and
``<root>/annotations/instances_<split>2014.json`` (splits ``train`` and ``val``).

The instances file is parsed once per dataset; each kept image's annotations are held with
their polygons as float64 arrays (one object per polygon part instead of one per number, as
``annToMask`` converts them anyway), the rest of the parsed file is dropped. Masks
are rendered on access by pycocotools' ``annToMask`` (the ``coco`` extra, imported only when a
COCO dataset is opened): the non-crowd annotations in file order (a later one over an earlier
one where they overlap), then every crowd region (``iscrowd=1``) set to 255. Classes:
background, then the file's categories in category-id order as mask values 1..N (81 classes for
COCO). Image labels are the categories of the non-crowd annotations; an image without one has
no tags and is left out of the split, as the field's lists do (82,081 train and 40,137 val
images).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wsss.constants import IGNORE
from wsss.data.base import Problem, SegDataset, require_dir
from wsss.data.classes import BACKGROUND, ClassSet
from wsss.io import DataFileError

INSTALL_HINT = 'pip install "wsss[coco]" (or: pip install pycocotools)'
YEAR = "2014"
REQUIRED_KEYS = ("images", "annotations", "categories")


class CocoDataset(SegDataset):
    """One split of a COCO 2014 folder; masks rendered from the instances file."""

    def __init__(self, root: str | Path, split: str, *, strict: bool = True) -> None:
        self.root = require_dir(Path(root), "dataset folder")
        self.annotation_file = annotation_file(self.root, split)
        self.image_dir = require_dir(self.root / f"{split}{YEAR}", f"image folder of split '{split}'")
        self._coco = mask_renderer()
        instances = read_instances(self.annotation_file)
        try:
            classes, self._mask_values = category_classes(instances["categories"], self.annotation_file)
            index = _Index(instances, classes, self._mask_values, self.annotation_file)
        except KeyError as err:
            raise DataFileError(f"{self.annotation_file}: an image, annotation or category lacks the key "
                                f"{err}; not a COCO instances file, download it again") from err
        self._images, self._annotations = index.images, index.annotations
        self._coco.imgs = {image["id"]: image for image in index.images.values()}
        super().__init__(list(index.images), classes, index.labels, source=self.annotation_file,
                         has_masks=True, problems=index.problems, strict=strict)

    def image_path(self, id: str) -> Path:
        return self.image_dir / self._images[id]["file_name"]

    def mask_path(self, id: str) -> Path:
        return self.annotation_file

    def read_mask(self, id: str) -> np.ndarray:
        image = self._images[id]
        return render_mask(self._coco, image, self._annotations[id], self._mask_values,
                           f"{self.annotation_file}: image {image['file_name']}")


def annotation_file(root: Path, split: str) -> Path:
    """``root/annotations/instances_<split>2014.json``, or an error listing the splits found."""
    path = root / "annotations" / f"instances_{split}{YEAR}.json"
    if not path.is_file():
        found = sorted(p.stem.removeprefix("instances_").removesuffix(YEAR)
                       for p in path.parent.glob(f"instances_*{YEAR}.json"))
        raise DataFileError(f"{path}: split '{split}' not found; COCO {YEAR} keeps each split's "
                            f"annotations there (found splits: {', '.join(found) or 'none'})")
    return path


def mask_renderer() -> Any:
    """An empty pycocotools ``COCO`` (its ``annToMask`` reads only ``imgs``), or an ImportError
    naming the extra."""
    try:
        from pycocotools.coco import COCO
    except ImportError as err:
        raise ImportError(f"data.kind=coco reads the annotations with pycocotools, which is not "
                          f"installed: {INSTALL_HINT}") from err
    return COCO()


def read_instances(path: Path) -> dict[str, Any]:
    """The parsed instances file, checked to hold images, annotations and categories."""
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: cannot parse the annotations ({err}); download it again") from err
    missing = [key for key in REQUIRED_KEYS if not isinstance(data, dict) or key not in data]
    if missing:
        raise DataFileError(f"{path}: not a COCO instances file (no {', '.join(missing)}); "
                            f"use annotations/instances_<split>{YEAR}.json")
    return data


def category_classes(categories: list[dict[str, Any]], path: Path) -> tuple[ClassSet, dict[int, int]]:
    """Background + the category names in id order, and each category id's mask value."""
    ordered = sorted(categories, key=lambda category: category["id"])
    names = tuple(category["name"] for category in ordered)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates or BACKGROUND in names:
        raise DataFileError(f"{path}: category names {duplicates or [BACKGROUND]} clash "
                            f"(each must appear once, '{BACKGROUND}' not at all); fix the categories")
    values = {category["id"]: value for value, category in enumerate(ordered, start=1)}
    return ClassSet((BACKGROUND, *names), has_background=True), values


class _Index:
    """The tagged images by id (file stem, sorted): their record (COCO id, file name, size),
    compact annotations and labels; and the problems found."""

    def __init__(self, instances: dict[str, Any], classes: ClassSet, mask_values: dict[int, int],
                 path: Path) -> None:
        self.images: dict[str, dict[str, Any]] = {}
        self.annotations: dict[str, tuple[dict[str, Any], ...]] = {}
        self.labels: dict[str, np.ndarray] = {}
        self.problems: list[Problem] = []
        by_image = defaultdict(list)
        for annotation in instances["annotations"]:
            by_image[annotation["image_id"]].append(annotation)
        for image in sorted(instances["images"], key=lambda image: image["file_name"]):
            self._add(image, by_image[image["id"]], classes, mask_values, path)

    def _add(self, image: dict[str, Any], annotations: list[dict[str, Any]], classes: ClassSet,
             mask_values: dict[int, int], path: Path) -> None:
        id = Path(image["file_name"]).stem
        unknown = sorted({a["category_id"] for a in annotations} - set(mask_values))
        if unknown:
            self.problems.append(Problem(path, f"image {image['id']} ({image['file_name']}): category ids "
                                               f"{unknown} are not among the categories; fix the file"))
        values = {mask_values[a["category_id"]] for a in annotations
                  if not a.get("iscrowd") and a["category_id"] in mask_values}
        if not values:
            return  # no tags: nothing to learn from, left out as in the field's lists
        if id in self.images:
            self.problems.append(Problem(path, f"two images named '{id}' ({image['file_name']}); "
                                               f"file names must be unique"))
            return
        self.images[id] = {key: image[key] for key in ("id", "file_name", "height", "width")}
        self.annotations[id] = tuple(_compact(a) for a in annotations)
        self.labels[id] = classes.multi_hot(classes.fg_index(value) for value in sorted(values))


def _compact(annotation: dict[str, Any]) -> dict[str, Any]:
    """The keys rendering reads (``annToMask`` finds the image's size by ``image_id``), polygons
    as float64 arrays (``annToMask`` converts each part to one anyway)."""
    keys = ("id", "image_id", "category_id", "iscrowd")
    compact = {key: annotation[key] for key in keys if key in annotation}
    segmentation = annotation["segmentation"]
    if isinstance(segmentation, list):
        try:
            segmentation = [np.asarray(part, np.float64) for part in segmentation]
        except (TypeError, ValueError):
            pass  # kept as it is: rendering names the annotation
    compact["segmentation"] = segmentation
    return compact


def render_mask(coco: Any, image: dict[str, Any], annotations: Sequence[dict[str, Any]],
                mask_values: dict[int, int], where: str) -> np.ndarray:
    """(H, W) uint8 mask of one image: non-crowd annotations in file order, then crowd = 255."""
    mask = np.zeros((image["height"], image["width"]), np.uint8)
    ordered = [a for a in annotations if not a.get("iscrowd")] + [a for a in annotations if a.get("iscrowd")]
    for annotation in ordered:
        try:
            pixels = coco.annToMask(annotation).astype(bool)
            value = IGNORE if annotation.get("iscrowd") else mask_values[annotation["category_id"]]
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise DataFileError(f"{where}: annotation {annotation.get('id')} cannot be rendered "
                                f"({err!r}); fix or remove it") from err
        mask[pixels] = value
    return mask
