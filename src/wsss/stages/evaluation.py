"""Stage ``eval``: score a folder of CAMs or label PNGs against a split's ground truth."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from wsss.data import SegDataset
from wsss.data.sources import read_cams
from wsss.engine.evaluate import IGNORE_MODES, ConfusionMatrix, confident_pixels, format_table, percent
from wsss.io import DataFileError, atomic_write_text, read_label_png
from wsss.ops.cam import cam_argmax, with_background
from wsss.progress import progress


def evaluate_cams(folder: Path, dataset: SegDataset, fixed: float, sweep: tuple[float, ...],
                  show_progress: bool = True) -> dict[str, Any]:
    """CAM mIoU at the ``fixed`` background threshold and over the ``sweep`` (best one named).

    The best threshold is chosen with the ground truth, so it is an upper bound, reported as
    such. Datasets without a background class are scored by the argmax over present classes.
    """
    classes = dataset.classes
    thresholds = sorted({fixed, *sweep}) if classes.has_background else [None]
    matrices = {t: ConfusionMatrix(classes.num_classes) for t in thresholds}
    for image_id, gt in ground_truth(dataset, show_progress, "eval cams"):
        cams, keys = read_cams(_existing(folder / f"{image_id}.npz"))
        peak, label = cam_argmax(cams, [classes.mask_value(int(k)) for k in keys])
        _same_size(label, gt, folder / f"{image_id}.npz")
        for threshold, matrix in matrices.items():
            matrix.update(label if threshold is None else with_background(peak, label, threshold), gt)
    if not classes.has_background:
        return {"argmax": matrices[None].scores()}
    scored = {t: m.scores() for t, m in matrices.items()}
    best = max(sweep, key=lambda t: scored[t]["miou"])
    return {
        "fixed": {"threshold": fixed, **scored[fixed]},
        "best": {"threshold": best, **scored[best]},
        "sweep": [{"threshold": t, "miou": scored[t]["miou"]} for t in sweep],
    }


def evaluate_labels(folder: Path, dataset: SegDataset, show_progress: bool = True) -> dict[str, Any]:
    """Scores of label PNGs: pixels labelled 255 scored each of the three named ways, and
    ``confident``: the precision and recall of the labelled pixels (``confident_pixels``)."""
    matrices = {mode: ConfusionMatrix(dataset.classes.num_classes) for mode in IGNORE_MODES}
    for image_id, gt in ground_truth(dataset, show_progress, "eval labels"):
        path = _existing(folder / f"{image_id}.png")
        label = _same_size(read_label_png(path), gt, path)
        for mode, matrix in matrices.items():
            matrix.update(label, gt, ignore_mode=mode)
    confident = confident_pixels(matrices["as_error"], dataset.classes.has_background)
    return {**{mode: matrix.scores() for mode, matrix in matrices.items()}, "confident": confident}


def labels_table(class_names: tuple[str, ...], name: str, scores: dict[str, Any]) -> str:
    """Per-class IoU of one label folder, 255 scored each of the three ways, then its confident pixels."""
    table = format_table(class_names, {f"{name} ({mode})": scores[mode]["iou"] for mode in IGNORE_MODES})
    return table + "\n\n" + confident_table({name: scores["confident"]})


# The scores of ``confident_pixels``, in table order.
CONFIDENT_SCORES = ("fg_precision", "fg_recall", "bg_precision", "bg_recall", "ignored")


def confident_table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown table of ``confident_pixels`` results, one row per label folder."""
    names = CONFIDENT_SCORES
    lines = ["| labelled pixels | " + " | ".join(n.replace("_", " ") for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    lines += [f"| {row} | " + " | ".join(percent(scores[n]) for n in names) + " |" for row, scores in rows.items()]
    return "\n".join(lines)


def update_metrics(path: Path, key: str, value: dict[str, Any]) -> None:
    """Merge one result into the run's ``metrics.json`` at ``path`` (written atomically)."""
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    metrics[key] = value
    atomic_write_text(path, json.dumps(metrics, indent=1))


def cam_columns(scores: dict[str, Any], split: str) -> dict[str, list[float]]:
    """Columns of a CAM evaluation (fixed threshold and best of the sweep, or argmax)."""
    if "argmax" in scores:
        return {f"CAM {split} (argmax)": scores["argmax"]["iou"]}
    fixed, best = scores["fixed"], scores["best"]
    return {
        f"CAM {split} (bg {fixed['threshold']:.2f})": fixed["iou"],
        f"CAM {split} (best bg {best['threshold']:.2f}, uses GT)": best["iou"],
    }


def cam_table(class_names: tuple[str, ...], scores: dict[str, Any], split: str) -> str:
    """Per-class IoU table of one CAM evaluation."""
    return format_table(class_names, cam_columns(scores, split))


def ground_truth(dataset: SegDataset, show_progress: bool, desc: str) -> Iterator[tuple[str, np.ndarray]]:
    """(id, mask) of every image of the split, in order; an error when the split has no masks."""
    if not dataset.has_masks:
        raise DataFileError(f"the split has no ground-truth masks to evaluate against ({dataset.ids[:1]}...)")
    for image_id in progress(dataset.ids, desc, show_progress):
        yield image_id, dataset.read_mask(image_id)


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise DataFileError(f"{path}: missing; run the stage that writes this folder for the same split")
    return path


def _same_size(label: np.ndarray, gt: np.ndarray, path: Path) -> np.ndarray:
    if label.shape != gt.shape:
        raise DataFileError(f"{path}: size {label.shape} differs from its ground truth {gt.shape}")
    return label
