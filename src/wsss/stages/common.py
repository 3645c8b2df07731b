"""Pieces every stage needs: checked datasets, stage fingerprints, the CAM network."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from wsss.config import DataConfig, ModelConfig, TrainConfig, to_dict
from wsss.data import SegDataset, build_dataset, check_dataset
from wsss.data.augmented import AugmentedDataset
from wsss.data.transforms import TrainTransform
from wsss.engine.checkpoint import load_checkpoint
from wsss.engine.run_log import RunLog
from wsss.engine.runtime import Runtime
from wsss.engine.trainer import StepFn, Trainer
from wsss.io import DataFileError, read_label_png
from wsss.models.backbones import create_backbone
from wsss.models.cam_net import CAMNet
from wsss.stages.artifacts import ArtifactMismatchError


class DataProblemsError(DataFileError):
    """A dataset with problems; the message lists every one with its path."""


def open_dataset(cfg: DataConfig, split: str, *, check: bool = False, progress: bool = True) -> SegDataset:
    """Build the dataset of ``split``; with ``check``, refuse it while any file has a problem."""
    dataset = build_dataset(cfg, split, strict=not check)
    if check:
        problems = check_dataset(dataset, progress=progress)
        if problems:
            raise DataProblemsError(format_problems(problems, cfg.root, split))
    return dataset


def format_problems(problems: list, root: str, split: str) -> str:
    lines = [f"{len(problems)} problem(s) in the dataset at {root} (split '{split}'):"]
    lines += [f"  {problem}" for problem in problems]
    lines.append("Fix or remove these files (or drop their ids from the split list) and run again.")
    return "\n".join(lines)


def fingerprint(**parts: Any) -> dict[str, Any]:
    """What a stage's outputs depend on, by config section name, as plain data stored beside them."""
    return {name: to_dict(part) if is_dataclass(part) else part for name, part in parts.items()}


def checkpoint_done(path: Path, meta: dict[str, Any]) -> bool:
    """True when ``path`` holds a finished checkpoint of this configuration.

    A checkpoint made with another configuration is refused, naming the keys that differ.
    """
    if not path.is_file():
        return False
    saved = load_checkpoint(path)["meta"]
    if saved != meta:
        changed = ", ".join(config_diff(saved, meta)) or "unknown"
        raise ArtifactMismatchError(
            f"{path} was made with another configuration (differs in: {changed}); "
            "use another run name (name=...) or delete the file"
        )
    return True


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [prefix.rstrip(".") or "value"]
    keys = sorted(set(old) | set(new))
    return [d for k in keys for d in config_diff(old.get(k), new.get(k), f"{prefix}{k}.")]


def backbone_from(model: ModelConfig, pretrained: bool | None = None) -> nn.Module:
    """The backbone of ``model``; ``pretrained=False`` when weights come from a checkpoint."""
    return create_backbone(model.backbone, output_stride=model.output_stride, weights=model.weights,
                           pretrained=model.pretrained if pretrained is None else pretrained)


def build_cam_net(model: ModelConfig, num_classes: int, *, dropout: float = 0.5, freeze_bn: bool = False,
                  pretrained: bool | None = None) -> CAMNet:
    """The classifier of ``model``."""
    return CAMNet(backbone_from(model, pretrained), num_classes, dropout=dropout, freeze_bn=freeze_bn)


class LabelFolder:
    """``folder/<id>.png`` as a mask source for training (picklable for loader workers)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __call__(self, image_id: str) -> np.ndarray:
        return read_label_png(self.folder / f"{image_id}.png")


def train_geometry(data: DataConfig, cfg: TrainConfig) -> tuple[int, tuple[int, int]]:
    """(crop size, long-side range) of a stage: its own where set, else the dataset's."""
    crop = cfg.crop_size if cfg.crop_size is not None else data.crop_size
    return crop, cfg.resize_long if cfg.resize_long is not None else data.resize_long


NetAndStep = Callable[[SegDataset], tuple[nn.Module, StepFn]]


def train_stage(build: NetAndStep, data: DataConfig, cfg: TrainConfig, *, stage: str, out: Path,
                meta: dict[str, Any], runtime: Runtime, run_dir: Path, resume: bool, masks: Path | None = None,
                check: bool = False) -> Path:
    """Train the network ``build(train_set)`` on augmented crops of the training split; save to ``out``.

    A finished checkpoint of the same ``meta`` is kept (another one is refused); ``masks`` is a folder
    of label PNGs to train on, ``check`` validates every file of the split first.
    """
    if checkpoint_done(out, meta):
        return out
    dataset = open_dataset(data, data.train_split, check=check, progress=runtime.progress)
    net, step_fn = build(dataset)
    transform = TrainTransform(*train_geometry(data, cfg), cfg.flip, cfg.color_jitter)
    train_set = AugmentedDataset(dataset, transform, runtime.seed, mask_source=LabelFolder(masks) if masks else None)
    Trainer(net, step_fn, train_set, cfg, stage=stage, out_path=out, runtime=runtime,
            log=RunLog(run_dir, runtime.is_main), meta=meta).fit(resume=resume)
    return out
