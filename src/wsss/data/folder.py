"""Users' own data: ``images/``, ``labels.csv`` (id,tags), ``classes.txt``, optional
``masks/<id>.png`` and ``splits/<split>.txt``.

``labels.csv`` has the header ``id,tags``; tags are ``;``-separated class names. Without a
split file the ``train`` split is every row of ``labels.csv``; other splits need
``splits/<split>.txt``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from wsss.data.base import (
    Problem,
    SegDataset,
    available_splits,
    encode_names,
    read_id_list,
    require_dir,
    resolve_path,
)
from wsss.data.classes import ClassSet, load_classes
from wsss.io import DataFileError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
HEADER = ["id", "tags"]


class FolderDataset(SegDataset):
    """One split of a folder-format dataset."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        classes: str | Path | None = None,
        labels: str = "auto",
        strict: bool = True,
    ) -> None:
        self.root = require_dir(Path(root), "dataset folder")
        class_set = load_classes(self.root / "classes.txt" if classes is None
                                 else resolve_path(self.root, classes))
        labels_path = _labels_path(self.root, labels)
        table, problems = read_labels_csv(labels_path, class_set)
        ids, source, split_problems = _split_ids(self.root, split, table, labels_path)
        self._images = _index_images(require_dir(self.root / "images", "images folder"))
        masks = self.root / "masks"
        self._masks = masks if any((masks / f"{id}.png").is_file() for id in ids) else None
        label_table = {id: table.get(id, class_set.multi_hot([])) for id in ids}
        super().__init__(ids, class_set, label_table, source=source,
                         has_masks=self._masks is not None, problems=problems + split_problems,
                         strict=strict)

    def image_path(self, id: str) -> Path:
        return self._images.get(id, self.root / "images" / f"{id}.jpg")

    def mask_path(self, id: str) -> Path | None:
        return None if self._masks is None else self._masks / f"{id}.png"


def read_labels_csv(path: Path, classes: ClassSet) -> tuple[dict[str, np.ndarray], list[Problem]]:
    """Multi-hot labels by id from an ``id,tags`` file, and every problem found in it."""
    if not path.is_file():
        raise DataFileError(f"{path}: labels file not found; write 'id,tags' then one line per image")
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's "CSV UTF-8" starts with a BOM
        rows = list(csv.reader(handle))
    if not rows or [cell.strip() for cell in rows[0]] != HEADER:
        raise DataFileError(f"{path}: the first line must be the header 'id,tags'")
    table: dict[str, np.ndarray] = {}
    problems: list[Problem] = []
    for number, row in enumerate(rows[1:], start=2):
        if row:
            problems += _parse_row(row, f"line {number}: ", classes, path, table)
    return table, problems


def _parse_row(
    row: list[str], where: str, classes: ClassSet, path: Path, table: dict[str, np.ndarray]
) -> list[Problem]:
    """Add one ``id,tags`` row to ``table``; return what is wrong with it."""
    if len(row) != 2 or not row[0].strip():
        return [Problem(path, f"{where}expected 'id,tags', got {row}; separate tags with ';'")]
    id = row[0].strip()
    if id in table:
        return [Problem(path, f"{where}duplicate id '{id}'; keep one line per image")]
    tags = [tag.strip() for tag in row[1].split(";") if tag.strip()]
    table[id], problems = encode_names(tags, classes, path, where)
    if not tags and not classes.has_background:
        problems.append(Problem(path, f"{where}'{id}' has no tags; without a background class "
                                      f"every image needs at least one"))
    return problems


def _labels_path(root: Path, labels: str) -> Path:
    if labels in ("xml", "masks"):
        raise DataFileError(f"{root}: folder datasets read their labels from labels.csv; "
                            f"data.labels must be 'auto' or a path, got '{labels}'")
    return root / "labels.csv" if labels == "auto" else resolve_path(root, labels)


def _split_ids(
    root: Path, split: str, table: dict[str, np.ndarray], labels_path: Path
) -> tuple[list[str], Path, list[Problem]]:
    """Ids of the split, the file that lists them, and ids missing from the labels file."""
    split_file = root / "splits" / f"{split}.txt"
    if split_file.is_file():
        ids, problems = read_id_list(split_file)
        problems += [Problem(split_file, f"id '{id}' has no row in {labels_path}; add one")
                     for id in ids if id not in table]
        return ids, split_file, problems
    if split == "train":
        if not table:
            raise DataFileError(f"{labels_path}: no image rows below the header; add one line 'id,tags' per image")
        return list(table), labels_path, []
    raise DataFileError(f"{split_file}: split '{split}' not found; 'train' is every row of "
                        f"{labels_path.name}, other splits need splits/<split>.txt (found: "
                        f"{available_splits(split_file.parent)})")


def _index_images(folder: Path) -> dict[str, Path]:
    """Image files by id (file stem), any of the accepted suffixes."""
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
