"""Datasets (VOC layout, folder format, generated demo), their checker and training transforms."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wsss.config import ConfigError, DataConfig
from wsss.data.base import Sample, SegDataset
from wsss.data.check import Problem, check_dataset
from wsss.data.classes import ClassSet
from wsss.data.demo import MANIFEST, generate_demo
from wsss.data.folder import FolderDataset
from wsss.data.voc import VocDataset
from wsss.io import DataFileError

__all__ = [
    "ClassSet", "Problem", "Sample", "SegDataset", "build_dataset", "check_dataset", "generate_demo",
]


def build_dataset(cfg: DataConfig, split: str, *, strict: bool = True) -> SegDataset:
    """The ``split`` of the dataset ``cfg`` describes. ``strict=False`` collects indexing
    problems in ``ds.problems`` instead of raising (for ``check_dataset``)."""
    try:
        build = _BUILDERS[cfg.kind]
    except KeyError:
        raise ConfigError(f"unknown data.kind '{cfg.kind}'; known kinds: {', '.join(_BUILDERS)}") from None
    return build(cfg, split, strict)


def _voc(cfg: DataConfig, split: str, strict: bool) -> SegDataset:
    return VocDataset(cfg.root, split, classes=cfg.classes, labels=cfg.labels,
                      mask_dir=cfg.mask_dir, strict=strict)


def _demo(cfg: DataConfig, split: str, strict: bool) -> SegDataset:
    if not (Path(cfg.root) / MANIFEST).is_file():
        raise DataFileError(f"{cfg.root}: no demo dataset here; generate it with "
                            f"`wsss demo-data {cfg.root}` (`wsss run` does it for you)")
    return _voc(cfg, split, strict)


def _folder(cfg: DataConfig, split: str, strict: bool) -> SegDataset:
    return FolderDataset(cfg.root, split, classes=cfg.classes, labels=cfg.labels, strict=strict)


_BUILDERS: dict[str, Callable[[DataConfig, str, bool], SegDataset]] = {
    "demo": _demo, "folder": _folder, "voc": _voc,
}
