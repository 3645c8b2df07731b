"""The end of every ``wsss run``: score what each stage produced, the same way for every method."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wsss.data import SegDataset
from wsss.engine.evaluate import format_table
from wsss.methods.base import Product, Stage
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.evaluation import cam_columns, confident_table, evaluate_cams, evaluate_labels


def score_stage(stage: Stage, output: Any, ctx: StageContext) -> dict[str, dict[str, Any]]:
    """``{metrics key: scores}`` of every folder a stage produced, against the ground truth of its split.

    Each entry also names its ``folder`` (relative to the run) and ``split``, so the report finds
    the files behind every score without knowing the method.
    """
    product = stage.produces
    if product is None:
        return {}
    dataset = ctx.dataset()
    folders = output if isinstance(output, list) else [output]
    return {f"{product.key}/{folder.path.name}": {**_score(product, folder, dataset, ctx), **_location(folder, ctx)}
            for folder in folders}


def _location(folder: ArtifactDir, ctx: StageContext) -> dict[str, str]:
    return {"folder": Path(os.path.relpath(folder.path, ctx.paths.root)).as_posix(), "split": ctx.split}


def _score(product: Product, folder: ArtifactDir, dataset: SegDataset, ctx: StageContext) -> dict[str, Any]:
    if product.kind == "cams":
        return evaluate_cams(folder.path, dataset, ctx.cfg.eval.bg_threshold, ctx.cfg.eval.sweep,
                             ctx.runtime.progress)
    return evaluate_labels(folder.path, dataset, ctx.runtime.progress)


def results_table(class_names: tuple[str, ...], products: dict[str, Product], scores: dict[str, Any]) -> str:
    """Per-class IoU, one column per scored folder in stage order (``products`` by metrics key prefix),
    then the precision and recall of the labelled pixels of every folder that leaves some at 255."""
    columns, confident = result_columns(products, scores)
    table = format_table(class_names, columns)
    return table + ("\n\n" + confident_table(confident) if confident else "")


def result_columns(products: dict[str, Product], scores: dict[str, Any]
                   ) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """``({column title: per-class IoU}, {metrics key: confident-pixel scores})`` of the scored
    folders, in the order of ``scores``; the second holds only folders that leave pixels at 255."""
    columns: dict[str, list[float]] = {}
    confident: dict[str, dict[str, float]] = {}
    for key, result in scores.items():
        prefix, name = key.split("/", 1)
        product = products[prefix]
        if product.kind == "cams":
            columns.update(cam_columns(result, name))
        else:
            columns[product.column.format(name=name)] = result[product.ignore_mode]["iou"]
            if result["confident"]["ignored"] > 0:  # maps that abstain somewhere: seeds, pseudo labels
                confident[key] = result["confident"]
    return columns, confident
