"""The report's tables: per-class IoU of every scored folder, confident pixels, ``wsss eval``
results and stage timings, from ``metrics.json`` (the same columns as the table `wsss run` prints)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wsss.engine.evaluate import nan_mean, percent
from wsss.methods.base import Product
from wsss.report.contents import Scored
from wsss.report.html import note, section, table, text
from wsss.stages.evaluation import CONFIDENT_SCORES
from wsss.stages.scoring import result_columns

EVAL_PREFIX = "eval"  # keys `wsss eval` writes: eval/<folder>/<split>


def metrics_html(class_names: Sequence[str], scored: list[Scored], metrics: dict[str, Any]) -> str:
    """Every table the run's metrics give, or a note when the run has none yet."""
    if not metrics:
        return note("No metrics.json yet: `wsss run` writes it once every stage has finished.")
    parts = []
    if scored:
        products = {entry.product.key: entry.product for entry in scored}
        parts.append(_iou_tables(class_names, products, {entry.key: entry.scores for entry in scored}))
    evaluated = {key: value for key, value in metrics.items() if key.startswith(EVAL_PREFIX + "/")}
    if evaluated:
        parts.append(section("wsss eval", "".join(_iou_tables(class_names, {EVAL_PREFIX: _eval_product(value)},
                                                               {key: value}) for key, value in evaluated.items()), 3))
    if metrics.get("timings_s"):
        rows = [[text(stage), f"{seconds:.1f}"] for stage, seconds in metrics["timings_s"].items()]
        parts.append(section("Stage times", table(["stage", "seconds"], rows), 3))
    return "\n".join(parts)


def iou_table(class_names: Sequence[str], columns: dict[str, Sequence[float]]) -> str:
    """One row per class, one column per result (IoU in percent), mIoU in the last row."""
    rows = [[text(name), *(percent(column[i]) for column in columns.values())] for i, name in enumerate(class_names)]
    rows.append(["mIoU", *(percent(nan_mean(column)) for column in columns.values())])
    return table(["class", *columns], rows, mean_last=True)


def _iou_tables(class_names: Sequence[str], products: dict[str, Product], scores: dict[str, Any]) -> str:
    columns, confident = result_columns(products, scores)
    html = iou_table(class_names, columns)
    if confident:
        rows = [[text(key), *(percent(values[name]) for name in CONFIDENT_SCORES)] for key, values in confident.items()]
        html += "\n" + table(["labelled pixels", *(name.replace("_", " ") for name in CONFIDENT_SCORES)], rows)
    return html


def _eval_product(scores: dict[str, Any]) -> Product:
    """How to show one `wsss eval` result: a CAM folder's scores or a label folder's."""
    return Product(EVAL_PREFIX, "labels" if "as_error" in scores else "cams", "{name}")
