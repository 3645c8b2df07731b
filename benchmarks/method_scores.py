"""What one finished ``wsss run`` scored and how long it took, read from its run folder.

The entries of ``metrics.json`` are sorted by the method's own stage declarations
(``wsss.methods.base``), so a method added later is read the same way: the stage that produces
``CAMS`` gives the CAM, the stage that produces ``PREDICTIONS`` the segmentation, and the last
other label ``Product`` on the training split the pseudo labels (PSA's random walk, AuxSegNet's
last round, AA&LR's and the prototype network's final masks); earlier label products (seeds,
localization, earlier rounds) are kept in the JSON under ``labels``.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from wsss.methods.base import PREDICTIONS, Method, Product
from wsss.stages.layout import RunPaths


def scored_products(method: Method, metrics: dict[str, Any]) -> list[tuple[str, Product]]:
    """``(metrics key, product)`` of every scored folder, in stage order."""
    found: list[tuple[str, Product]] = []
    for stage in method.stages:
        product = stage.produces
        if product is None:
            continue
        for key in metrics:
            if key.split("/", 1)[0] == product.key and all(key != seen for seen, _ in found):
                found.append((key, product))
    return found


def _scores(result: dict[str, Any], product: Product, class_names: list[str]) -> dict[str, Any]:
    """mIoU, per-class IoU and which score it is (a CAM's fixed threshold or argmax; a label map's 255 rule)."""
    if product.kind == "cams":
        mode = "argmax" if "argmax" in result else "fixed"
        score = result[mode]
        how = "argmax" if mode == "argmax" else f"bg {score['threshold']:.2f}"
    else:
        score, how = result[product.ignore_mode], f"255 {product.ignore_mode.replace('_', ' ')}"
    return {"miou": score["miou"], "scored": how, "iou": dict(zip(class_names, score["iou"]))}


def read_scores(method: Method, metrics: dict[str, Any], class_names: list[str]) -> dict[str, Any]:
    """``cam``, ``pseudo``, ``seg`` (per prediction folder) and every other ``labels`` entry, by metrics key."""
    out: dict[str, Any] = {"cam": None, "pseudo": None, "seg": {}, "labels": {}}
    for key, product in scored_products(method, metrics):
        scores = {"key": key, **_scores(metrics[key], product, class_names)}
        if product.kind == "cams":
            out["cam"] = out["cam"] or scores
        elif product.key == PREDICTIONS.key:
            out["seg"][key.split("/", 1)[1]] = scores
        else:
            out["labels"][key] = scores
            out["pseudo"] = scores  # the last label product before the predictions
    return out


def training_stages(log: Path, stage_seconds: dict[str, float]) -> dict[str, dict[str, float | None]]:
    """Per training stage (the stages that wrote steps to ``log.jsonl``): seconds and mean logged images/s."""
    rates: dict[str, list[float]] = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            row = json.loads(line)
            rates.setdefault(row["stage"], []).append(row.get("images_per_s", 0.0))
    return {stage: {"seconds": stage_seconds.get(stage), "images_per_s": statistics.fmean(values) if values else None}
            for stage, values in rates.items()}


def inference_rate(method: Method, run_dir: Path, folders: list[str], stage_seconds: dict[str, float]
                   ) -> dict[str, Any]:
    """Images/s of the stage that produces the prediction ``folders``: val images / its seconds
    (every folder it writes, e.g. single- and multi-scale, is counted in its time)."""
    stage = next(s for s in method.stages if s.produces == PREDICTIONS)
    images = len(list(RunPaths(run_dir).preds(folders[0]).glob("*.png"))) if folders else 0
    seconds = stage_seconds.get(stage.name)
    rate = images / seconds if images and seconds else None
    return {"stage": stage.name, "images": images, "folders": len(folders), "seconds": seconds, "images_per_s": rate}


def run_report(method: Method, run_dir: Path, class_names: list[str]) -> dict[str, Any]:
    """Everything the benchmark reports of one finished run folder."""
    metrics = json.loads(RunPaths(run_dir).metrics.read_text())
    seconds = metrics.get("timings_s", {})
    training = training_stages(RunPaths(run_dir).log, seconds)
    scores = read_scores(method, metrics, class_names)
    return {**scores, "stage_seconds": seconds, "training": training,
            "training_s": sum(t["seconds"] or 0.0 for t in training.values()), "stages_s": sum(seconds.values()),
            "inference": inference_rate(method, run_dir, list(scores["seg"]), seconds)}
