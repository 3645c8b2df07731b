"""Segmentation scores from one confusion matrix accumulated over every pixel of a split.

Ground truth 255 is void and never counted. A class absent from both prediction and ground
truth has IoU NaN (not 0), and mIoU is the mean over the classes that occur.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from wsss.constants import IGNORE

# How a prediction of 255 (an "ignore" pixel of a pseudo label) is scored.
IGNORE_MODES = ("as_background", "excluded", "as_error")


class ConfusionMatrix:
    """``matrix[gt, pred]`` pixel counts over ``num_classes`` classes."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.missed = np.zeros(num_classes, dtype=np.int64)  # ground truth predicted as 255

    def update(self, pred: np.ndarray, gt: np.ndarray, ignore_mode: str = "as_error") -> None:
        """Add one image. ``pred`` may hold 255 where a pseudo label abstains."""
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        if ignore_mode not in IGNORE_MODES:
            raise ValueError(f"unknown ignore mode '{ignore_mode}'; choose one of {IGNORE_MODES}")
        valid = gt != IGNORE
        pred = pred.astype(np.int64)
        abstain = pred == IGNORE
        if ignore_mode == "excluded":
            valid &= ~abstain
        elif ignore_mode == "as_background":
            pred = np.where(abstain, 0, pred)
        n = self.num_classes
        gt_v, pred_v = gt[valid].astype(np.int64), pred[valid]
        wrong = pred_v >= n  # an abstention scored as error: a miss of the true class
        self.matrix += np.bincount(gt_v[~wrong] * n + pred_v[~wrong], minlength=n * n).reshape(n, n)
        self.missed += np.bincount(gt_v[wrong], minlength=n)

    def merge(self, other: "ConfusionMatrix") -> None:
        self.matrix += other.matrix
        self.missed += other.missed

    def scores(self) -> dict[str, object]:
        """Per-class IoU, precision, recall; mIoU and pixel accuracy."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        gt_total = m.sum(1) + self.missed
        pred_total = m.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = tp / (gt_total + pred_total - tp)
            precision = tp / pred_total
            recall = tp / gt_total
        pixels = gt_total.sum()
        return {
            "miou": nan_mean(iou),
            "pixel_accuracy": float(tp.sum() / pixels) if pixels else math.nan,
            "iou": iou.tolist(),
            "precision": precision.tolist(),
            "recall": recall.tolist(),
        }


def confident_pixels(matrix: ConfusionMatrix, background: bool) -> dict[str, float]:
    """Precision and recall of the labelled pixels of a map that may abstain (255), as a whole.

    ``fg``: any foreground label counts as right only when it is the true class; ``bg``: the
    background label (NaN without a background class); ``ignored``: the fraction of ground-truth
    pixels the map left at 255. This is how seeds are judged: few but right.
    """
    m = matrix.matrix.astype(np.float64)
    gt_total = m.sum(1) + matrix.missed
    first = 1 if background else 0
    fg, bg = slice(first, None), slice(0, first)
    tp = np.diag(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = {
            "fg_precision": tp[fg].sum() / m[:, fg].sum(),
            "fg_recall": tp[fg].sum() / gt_total[fg].sum(),
            "bg_precision": tp[bg].sum() / m[:, bg].sum() if background else math.nan,
            "bg_recall": tp[bg].sum() / gt_total[bg].sum() if background else math.nan,
            "ignored": matrix.missed.sum() / gt_total.sum(),
        }
    return {name: float(value) for name, value in scores.items()}


def format_table(class_names: Sequence[str], columns: dict[str, Sequence[float]]) -> str:
    """A Markdown table: one row per class, one column per result, mIoU in the last row."""
    header = "| class | " + " | ".join(columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    rows = [
        f"| {name} | " + " | ".join(percent(col[i]) for col in columns.values()) + " |"
        for i, name in enumerate(class_names)
    ]
    mean = "| **mIoU** | " + " | ".join(f"**{percent(nan_mean(col))}**" for col in columns.values()) + " |"
    return "\n".join([header, rule, *rows, mean])


def nan_mean(values: Sequence[float]) -> float:
    """The mean of the finite values (an mIoU over the classes that occur); NaN when there are none."""
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else math.nan


def percent(value: float | None) -> str:
    """A score as a percentage with one decimal; '-' for a missing (None or NaN) one."""
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"
