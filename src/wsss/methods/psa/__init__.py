"""AffinityNet / PSA (Ahn & Kwak, CVPR 2018) as a list of stages.

classifier -> CAMs -> seeds (confident fg/bg, refined) -> AffinityNet -> random walk ->
pseudo labels -> segmentation network -> prediction on val. Each stage skips itself when its
outputs are complete for the same configuration, so ``wsss run`` resumes where it stopped.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsss.config import RunConfig
from wsss.engine.evaluate import format_table
from wsss.engine.runtime import Runtime
from wsss.methods.psa.affinity import train_affinity
from wsss.methods.psa.pseudo import make_pseudo_labels
from wsss.methods.psa.seeds import make_seeds
from wsss.stages.cams import compute_cams
from wsss.stages.classification import train_classifier
from wsss.stages.common import open_dataset
from wsss.stages.evaluation import cam_columns, evaluate_cams, evaluate_labels, update_metrics
from wsss.stages.segmentation import predict, train_segmentation


class _Clock:
    """Times each stage and prints one line per stage on the main process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.seconds = runtime, {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        self.seconds[name] = round(time.perf_counter() - start, 1)
        if self.runtime.is_main:
            print(f"[{name}] done in {self.seconds[name]:.1f} s", flush=True)
        return result


STAGES = ("train-cls", "cams", "seeds", "train-aff", "pseudo", "train-seg", "predict")


def run_psa(cfg: RunConfig, runtime: Runtime, run_dir: Path, *, resume: bool = False,
            until: str | None = None) -> dict[str, Any]:
    """Run the PSA stages in order (up to and including ``until``); finished ones are skipped.

    The whole pipeline ends by scoring every stage and printing the table.
    """
    if until is not None and until not in STAGES:
        raise ValueError(f"unknown stage '{until}'; stages: {STAGES}")
    train, val = cfg.data.train_split, cfg.data.val_split
    clock = _Clock(runtime)  # the training split is validated by the first stage
    out: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("train-cls", lambda: train_classifier(cfg.data, cfg.model, cfg.cls, runtime, run_dir, resume=resume)),
        ("cams", lambda: compute_cams(cfg.data, cfg.model, cfg.cls, cfg.cam, runtime, run_dir, train)),
        ("seeds", lambda: make_seeds(open_dataset(cfg.data, train), cfg.seeds, runtime, run_dir, out["cams"], train)),
        ("train-aff", lambda: train_affinity(cfg.data, cfg.model, cfg.aff, runtime, run_dir, out["seeds"],
                                             resume=resume)),
        ("pseudo", lambda: make_pseudo_labels(cfg.data, cfg.model, cfg.aff, cfg.pseudo, runtime, run_dir,
                                              out["cams"], train)),
        ("train-seg", lambda: train_segmentation(cfg.data, cfg.model, cfg.seg, runtime, run_dir, out["pseudo"],
                                                 resume=resume)),
        ("predict", lambda: [predict(cfg.data, cfg.model, cfg.seg, runtime, run_dir, val, multiscale=ms)
                             for ms in (False, True)]),
    ]
    for name, step in steps:
        out[name] = clock(name, step)
        if name == until:
            return out
    if runtime.is_main:
        return _score(cfg, runtime, run_dir, out, clock.seconds)
    return {}


def _score(cfg: RunConfig, runtime: Runtime, run_dir: Path, out: dict[str, Any],
           seconds: dict[str, float]) -> dict[str, Any]:
    """Score CAMs, seeds and pseudo labels on train and predictions on val; print the table."""
    train, val = cfg.data.train_split, cfg.data.val_split
    train_set, val_set = open_dataset(cfg.data, train), open_dataset(cfg.data, val)
    show = runtime.progress
    scores = {
        f"cam/{train}": evaluate_cams(out["cams"].path, train_set, cfg.eval.bg_threshold, cfg.eval.sweep, show),
        f"seeds/{train}": evaluate_labels(out["seeds"].path, train_set, show),
        f"pseudo/{train}": evaluate_labels(out["pseudo"].path, train_set, show),
        **{f"seg/{folder.path.name}": evaluate_labels(folder.path, val_set, show) for folder in out["predict"]},
    }
    for key, value in scores.items():
        update_metrics(run_dir, key, value)
    update_metrics(run_dir, "timings_s", seconds)
    print(results_table(train_set.classes.names, scores))
    return {**scores, "timings_s": seconds}


def results_table(class_names: tuple[str, ...], scores: dict[str, Any]) -> str:
    """Per-class IoU: CAM -> seeds -> random-walk pseudo labels (train) -> segmentation (val)."""
    columns: dict[str, list[float]] = {}
    for key, result in scores.items():
        stage, split = key.split("/", 1)
        if stage == "cam":
            columns.update(cam_columns(result, split))
        elif stage == "seeds":
            columns[f"seeds {split} (confident px only)"] = result["excluded"]["iou"]
        else:
            name = "pseudo (RW)" if stage == "pseudo" else "seg"
            columns[f"{name} {split}"] = result["as_error"]["iou"]
    return format_table(class_names, columns)
