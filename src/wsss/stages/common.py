"""Pieces every stage needs: dataset problem reports, stage fingerprints, the training helper."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from wsss.config import DataConfig, TrainConfig, fingerprint_dict
from wsss.data import SegDataset, check_dataset
from wsss.data.augmented import AugmentedDataset
from wsss.data.sources import Source
from wsss.data.transforms import TrainTransform
from wsss.engine.checkpoint import last_checkpoint_path, load_checkpoint
from wsss.engine.run_log import RunLog
from wsss.engine.trainer import StepFn, Trainer
from wsss.io import DataFileError
from wsss.stages.artifacts import refuse_mismatch

if TYPE_CHECKING:
    from wsss.stages.context import StageContext


class DataProblemsError(DataFileError):
    """A dataset with problems; the message lists every one with its path."""


def raise_file_problems(dataset: SegDataset, root: str, split: str, progress: bool = True, workers: int = 0) -> None:
    """Decode every file of ``dataset`` (in ``workers`` processes); a DataProblemsError listing
    every problem found, if any."""
    problems = check_dataset(dataset, progress=progress, workers=workers)
    if problems:
        raise DataProblemsError(format_problems(problems, root, split))


def format_problems(problems: list, root: str, split: str) -> str:
    lines = [f"{len(problems)} problem(s) in the dataset at {root} (split '{split}'):"]
    lines += [f"  {problem}" for problem in problems]
    lines.append("Fix or remove these files (or drop their ids from the split list) and run again.")
    return "\n".join(lines)


def fingerprint(**parts: Any) -> dict[str, Any]:
    """What a stage's outputs depend on, by config section name, as plain data stored beside them."""
    return {name: fingerprint_dict(part) if is_dataclass(part) else part for name, part in parts.items()}


def checkpoint_done(path: Path, meta: dict[str, Any]) -> bool:
    """True when ``path`` holds a finished checkpoint of this configuration.

    A checkpoint made with another configuration is refused, naming the keys that differ.
    """
    if not path.is_file():
        return False
    refuse_mismatch(load_checkpoint(path)["meta"], meta, f"{path} was", "file")
    return True


def train_geometry(data: DataConfig, cfg: TrainConfig) -> tuple[int, tuple[int, int]]:
    """(crop size, long-side range) of a stage: its own where set, else the dataset's."""
    crop = cfg.crop_size if cfg.crop_size is not None else data.crop_size
    return crop, cfg.resize_long if cfg.resize_long is not None else data.resize_long


NetAndStep = Callable[[SegDataset], tuple[nn.Module, StepFn]]


def train_stage(ctx: StageContext, cfg: TrainConfig, build: NetAndStep, *, out: Path, meta: dict[str, Any],
                sources: Mapping[str, Source] | None = None, check: bool = False) -> Path:
    """Train the network ``build(train_set)`` on augmented crops of the stage's split; save to ``out``.

    A finished checkpoint of the same ``meta`` is kept (another one is refused). ``sources`` are
    named per-image targets (label maps, float maps) cropped with the image; each becomes a key
    of the batch. ``check`` validates every file of the split first.
    """
    if checkpoint_done(out, meta):
        if ctx.runtime.is_main:
            last_checkpoint_path(out).unlink(missing_ok=True)  # a kill between the final save and its removal
            if ctx.resume:
                print(f"[{ctx.stage}] nothing to resume: {out} is finished", flush=True)
        return out
    dataset = ctx.dataset(check=check)
    net, step_fn = build(dataset)
    transform = TrainTransform(*train_geometry(ctx.cfg.data, cfg), cfg.flip, cfg.color_jitter)
    train_set = AugmentedDataset(dataset, transform, ctx.runtime.seed, sources=sources)
    Trainer(net, step_fn, train_set, cfg, stage=ctx.stage, out_path=out, runtime=ctx.runtime,
            log=RunLog(ctx.paths.log, ctx.runtime.is_main), meta=meta).fit(resume=ctx.resume)
    return out
