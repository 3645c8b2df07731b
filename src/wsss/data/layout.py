"""Which reader a dataset folder needs, told from the files it holds (for ``wsss check-data DIR``)."""
from __future__ import annotations

from pathlib import Path

from wsss.data.coco import YEAR as COCO_YEAR
from wsss.data.demo import MANIFEST
from wsss.io import DataFileError


def detect_layout(root: Path) -> str:
    """The ``data.kind`` of the dataset folder ``root``: ``demo``, ``voc``, ``coco`` or ``folder``.

    The demo manifest is checked first because a demo set is also in VOC layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root}: no such folder")
    if (root / MANIFEST).is_file():
        return "demo"
    if (root / "JPEGImages").is_dir():
        return "voc"
    if any((root / "annotations").glob(f"instances_*{COCO_YEAR}.json")):
        return "coco"
    if (root / "images").is_dir() and (root / "labels.csv").is_file():
        return "folder"
    raise DataFileError(f"{root}: not a dataset folder; expected {MANIFEST} (generated demo set), "
                        f"JPEGImages/ (VOC layout), annotations/instances_<split>{COCO_YEAR}.json (COCO), "
                        f"or images/ + labels.csv (folder format)")
