"""Training curves from the run's ``log.jsonl``: loss terms and learning rate against steps, one
PNG per training stage, drawn with matplotlib (optional: ``pip install -e ".[report]"``)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from wsss.report.contents import file_name

# Fields of a log row that are not loss terms.
NOT_TERMS = frozenset({"time", "stage", "step", "total", "lr", "images_per_s"})
INSTALL_HINT = 'Training curves need matplotlib: pip install -e ".[report]" (or pip install "matplotlib>=3.7").'


def read_log(path: Path) -> dict[str, list[dict[str, Any]]]:
    """``{stage: rows}`` of ``log.jsonl`` in the order written, each row with its place ``x`` on
    the stage's step axis (see :func:`step_axis`). A line cut by a kill is skipped."""
    stages: dict[str, list[dict[str, Any]]] = {}
    if not path.is_file():
        return stages
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "stage" in row and "step" in row:
            stages.setdefault(str(row["stage"]), []).append(row)
    return {stage: step_axis(rows) for stage, rows in stages.items()}


def step_axis(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows along one step axis ``x``: rows a resumed run logs again replace the earlier ones from
    that step on; a run that starts over from the first step (AuxSegNet's rounds) goes after the last."""
    series: list[dict[str, Any]] = []
    first, offset = rows[0]["step"], 0
    for row in rows:
        if series and row["step"] + offset <= series[-1]["x"]:
            if row["step"] <= first:
                offset = series[-1]["x"]
            else:
                series = [kept for kept in series if kept["x"] < row["step"] + offset]
        series.append({**row, "x": row["step"] + offset})
    return series


def loss_terms(rows: list[dict[str, Any]]) -> list[str]:
    """The numeric fields of the rows that are loss terms, in the order first logged."""
    names: dict[str, None] = {}
    for row in rows:
        names.update({key: None for key, value in row.items()
                      if key not in NOT_TERMS and key != "x" and isinstance(value, (int, float))})
    return list(names)


def draw_curves(log: dict[str, list[dict[str, Any]]], out: Path) -> list[tuple[str, Path]]:
    """Write ``<out>/curves-<stage>.png`` per stage; returns ``(stage, path)`` pairs.

    Raises ImportError when matplotlib is missing. Uses matplotlib's object API (no pyplot), so
    the global backend of a caller's session is left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    written = []
    for stage, rows in log.items():
        figure = Figure(figsize=(9, 3.2), dpi=90, layout="constrained")
        FigureCanvasAgg(figure)
        losses, rate = figure.subplots(1, 2, width_ratios=(3, 2))
        steps = [row["x"] for row in rows]
        marker = "o" if len(rows) <= 30 else None
        for term in loss_terms(rows):
            losses.plot(steps, [row.get(term, math.nan) for row in rows], marker=marker, markersize=3, label=term)
        losses.set(title=f"{stage}: loss terms", xlabel="step")
        losses.legend(fontsize="small")
        rate.plot(steps, [row.get("lr", math.nan) for row in rows], marker=marker, markersize=3, color="tab:gray")
        rate.set(title="learning rate (first group)", xlabel="step")
        for axes in (losses, rate):
            axes.set_xlim(left=0)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        path = out / f"curves-{file_name(stage)}.png"
        out.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
        written.append((stage, path))
    return written
