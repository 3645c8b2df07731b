"""AffinityNet / PSA (Ahn & Kwak, CVPR 2018) as a list of stages.

So far: classifier -> CAMs -> CAM evaluation. Each stage skips itself when its outputs are
complete for the same configuration, so ``wsss run`` resumes where it stopped.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsss.config import RunConfig
from wsss.engine.evaluate import format_table
from wsss.engine.runtime import Runtime
from wsss.stages.cams import compute_cams
from wsss.stages.classification import train_classifier
from wsss.stages.common import open_dataset
from wsss.stages.evaluation import evaluate_cams, update_metrics


def run_psa(cfg: RunConfig, runtime: Runtime, run_dir: Path, *, resume: bool = False) -> dict[str, Any]:
    """Run every PSA stage in order and return the metrics; prints one line per stage."""
    split = cfg.data.train_split
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        timings[name] = round(time.perf_counter() - start, 1)
        if runtime.is_main:
            print(f"[{name}] done in {timings[name]:.1f} s", flush=True)
        return result

    timed("train-cls", lambda: train_classifier(cfg.data, cfg.model, cfg.cls, runtime, run_dir, resume=resume))
    folder = timed("cams", lambda: compute_cams(cfg.data, cfg.model, cfg.cls, cfg.cam, runtime, run_dir, split))
    if not runtime.is_main:
        return {}
    dataset = open_dataset(cfg.data, split)
    cam_scores = timed("eval", lambda: evaluate_cams(folder, dataset, cfg.eval.bg_threshold, cfg.eval.sweep,
                                                     runtime.progress))
    update_metrics(run_dir, f"cam/{split}", cam_scores)
    update_metrics(run_dir, "timings_s", timings)
    print(cam_table(dataset.classes.names, cam_scores, split))
    return {"cam": cam_scores, "timings_s": timings}


def cam_table(class_names: tuple[str, ...], scores: dict[str, Any], split: str) -> str:
    """Per-class IoU table of a CAM evaluation (fixed threshold and best of the sweep)."""
    if "argmax" in scores:
        columns = {f"CAM {split} (argmax)": scores["argmax"]["iou"]}
    else:
        fixed, best = scores["fixed"], scores["best"]
        columns = {
            f"CAM {split} (bg {fixed['threshold']:.2f})": fixed["iou"],
            f"CAM {split} (best bg {best['threshold']:.2f}, uses GT)": best["iou"],
        }
    return format_table(class_names, columns)
