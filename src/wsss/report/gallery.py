"""The gallery: for images of a split, the photo, its ground truth and every scored folder's
picture of it (a CAM heat map per present class, label maps), worst image first.

Images are ranked by their own mIoU under the split's last label folder in stage order (the
prediction on val, the final pseudo labels on train), and only ``report.images`` of them get
pictures, so a 10,000-image run gives a small report. The pictures go under ``<run>/report/``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsss.config import DataConfig, ReportConfig
from wsss.data import SegDataset, build_dataset
from wsss.data.sources import read_cams
from wsss.engine.evaluate import ConfusionMatrix
from wsss.io import read_image, read_label_png
from wsss.progress import progress
from wsss.report.contents import Scored, file_name
from wsss.report.thumbnails import save_heat_map, save_label, save_photo
from wsss.stages.layout import RunPaths


@dataclass(frozen=True)
class Tile:
    """One picture: its path relative to the run folder, a caption, whether it is a label map."""

    src: str
    caption: str = ""
    label: bool = False


@dataclass(frozen=True)
class Row:
    """One image: its id, its mIoU (NaN when unranked), one tuple of tiles per column."""

    image_id: str
    iou: float
    cells: tuple[tuple[Tile, ...], ...]


@dataclass(frozen=True)
class Gallery:
    """The rows of one split; ``titles`` name the columns, ``ranked_by`` the folder that ranks them."""

    split: str
    titles: tuple[str, ...]
    ranked_by: str | None
    total: int
    rows: tuple[Row, ...]


def build_galleries(scored: list[Scored], data: DataConfig, settings: ReportConfig, paths: RunPaths,
                    show_progress: bool = True) -> list[Gallery]:
    """One gallery per split that has scored folders, their pictures written under ``paths.report_files``."""
    splits: dict[str, list[Scored]] = {}
    for entry in scored:
        if entry.folder is not None and entry.split is not None:
            splits.setdefault(entry.split, []).append(entry)
    return [build_gallery(split, entries, build_dataset(data, split, progress=show_progress), settings, paths,
                          show_progress) for split, entries in splits.items()]


def build_gallery(split: str, entries: list[Scored], dataset: SegDataset, settings: ReportConfig, paths: RunPaths,
                  show_progress: bool = True) -> Gallery:
    """The ``settings.images`` worst images of ``dataset`` with a picture from every folder of ``entries``."""
    labels = [entry for entry in entries if entry.product.kind == "labels"]
    ranked_by = labels[-1] if labels and dataset.has_masks else None
    ious = {image_id: math.nan for image_id in dataset.ids}
    if ranked_by is not None and settings.images:
        folder = paths.root / ranked_by.folder
        for image_id in progress(dataset.ids, f"rank {split}", show_progress):
            ious[image_id] = image_iou(read_label_png(folder / f"{image_id}.png"),
                                       dataset.read_mask(image_id), dataset.classes.num_classes)
    worst_first = sorted(dataset.ids, key=lambda i: math.inf if math.isnan(ious[i]) else ious[i])
    pictures = _Pictures(dataset, settings.thumbnail, paths.root, paths.report_files / file_name(split))
    rows = tuple(Row(image_id, ious[image_id], pictures.row(image_id, entries))
                 for image_id in worst_first[:settings.images])
    truth = ("ground truth",) if dataset.has_masks else ()
    return Gallery(split, ("image", *truth, *(entry.title for entry in entries)),
                   ranked_by.title if ranked_by else None, len(dataset.ids), rows)


def image_iou(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> float:
    """mIoU of one label map over the classes in it or its ground truth (255 in ``pred`` is an error)."""
    matrix = ConfusionMatrix(num_classes)
    matrix.update(pred, gt)
    return matrix.scores()["miou"]


class _Pictures:
    """Writes the pictures of one image under ``<out>/<id>/``, named by column."""

    def __init__(self, dataset: SegDataset, long_side: int, run_dir: Path, out: Path) -> None:
        self.dataset, self.long_side, self.run_dir, self.out = dataset, long_side, run_dir, out
        self.palette = dataset.classes.palette()

    def row(self, image_id: str, entries: list[Scored]) -> tuple[tuple[Tile, ...], ...]:
        """The tiles of every column: photo, ground truth (when the split has it), then each folder's."""
        base = self.out / file_name(image_id)
        photo = save_photo(base / "image.jpg", read_image(self.dataset.image_path(image_id)), self.long_side)
        cells = [(self._tile(base / "image.jpg"),)]
        if self.dataset.has_masks:
            cells.append(self._label(base / "gt.png", self.dataset.read_mask(image_id)))
        for column, entry in enumerate(entries):
            source = self.run_dir / entry.folder
            if entry.product.kind == "cams":
                cells.append(self._heat_maps(base, column, source / f"{image_id}.npz", photo))
            else:
                cells.append(self._label(base / f"{column}.png", read_label_png(source / f"{image_id}.png")))
        return tuple(cells)

    def _label(self, path: Path, label: np.ndarray) -> tuple[Tile]:
        save_label(path, label, self.long_side, self.palette)
        return (self._tile(path, label=True),)

    def _heat_maps(self, base: Path, column: int, source: Path, photo: np.ndarray) -> tuple[Tile, ...]:
        """One heat map per class the CAM file holds (the image's present classes), captioned."""
        cams, keys = read_cams(source)
        names = self.dataset.classes.foreground_names
        tiles = []
        for cam, key in zip(cams, keys):
            path = base / f"{column}-{int(key)}.jpg"
            save_heat_map(path, cam, photo)
            tiles.append(self._tile(path, names[int(key)]))
        return tuple(tiles)

    def _tile(self, path: Path, caption: str = "", label: bool = False) -> Tile:
        return Tile(path.relative_to(self.run_dir).as_posix(), caption, label)

