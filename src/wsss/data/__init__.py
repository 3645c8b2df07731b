"""Datasets (VOC layout, COCO 2014, folder format, generated demo), their checker and training transforms."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wsss.config import ConfigError, DataConfig
from wsss.data.base import Sample, SegDataset
from wsss.data.check import Problem, check_dataset
from wsss.data.classes import ClassSet
from wsss.data.coco import CocoDataset
from wsss.data.demo import MANIFEST, generate_demo
from wsss.data.folder import FolderDataset
from wsss.data.layout import detect_layout
from wsss.data.voc import VocDataset
from wsss.io import DataFileError

__all__ = [
    "ClassSet", "Problem", "Sample", "SegDataset", "build_dataset", "check_dataset", "detect_layout",
    "generate_demo",
]


def build_dataset(cfg: DataConfig, split: str, *, strict: bool = True, progress: bool = True) -> SegDataset:
    """The ``split`` of the dataset ``cfg`` describes. ``strict=False`` collects indexing
    problems in ``ds.problems`` instead of raising (for ``check_dataset``); ``progress=False``
    hides the bars of indexing (``--quiet``)."""
    try:
        build = _BUILDERS[cfg.kind]
    except KeyError:
        raise ConfigError(f"unknown data.kind '{cfg.kind}'; known kinds: {', '.join(_BUILDERS)}") from None
    return build(cfg, split, strict, progress)


def _voc(cfg: DataConfig, split: str, strict: bool, progress: bool) -> SegDataset:
    return VocDataset(cfg.root, split, classes=cfg.classes, labels=cfg.labels,
                      mask_dir=cfg.mask_dir, strict=strict, progress=progress)


def _demo(cfg: DataConfig, split: str, strict: bool, progress: bool) -> SegDataset:
    if not (Path(cfg.root) / MANIFEST).is_file():
        raise DataFileError(f"{cfg.root}: no demo dataset here; generate it with "
                            f"`wsss demo-data {cfg.root}` (`wsss run` does it for you)")
    return _voc(cfg, split, strict, progress)


def _folder(cfg: DataConfig, split: str, strict: bool, progress: bool) -> SegDataset:
    """Folder datasets read one labels file: no progress bar to show."""
    return FolderDataset(cfg.root, split, classes=cfg.classes, labels=cfg.labels, strict=strict)


def _coco(cfg: DataConfig, split: str, strict: bool, progress: bool) -> SegDataset:
    """COCO takes its classes, labels and masks from the instances file: other sources are refused."""
    set_keys = [f"data.{key}" for key, default in (("classes", None), ("labels", "auto"), ("mask_dir", "auto"))
                if getattr(cfg, key) != default]
    if set_keys:
        raise ConfigError(f"{', '.join(set_keys)}: not used by data.kind=coco (classes, image labels and masks "
                          f"come from annotations/instances_<split>2014.json); remove them")
    return CocoDataset(cfg.root, split, strict=strict)


_BUILDERS: dict[str, Callable[[DataConfig, str, bool, bool], SegDataset]] = {
    "coco": _coco, "demo": _demo, "folder": _folder, "voc": _voc,
}
