"""What a run folder holds for the report: its scores, and the folder and split behind each one.

Scores come from ``metrics.json``; a key ``<product key>/<folder name>`` belongs to the stage of
the run's method that declares that product (``Method.stages``), so a method added later shows
up without a change here. The scoring step stores each scored folder's path and split beside
its scores, which is how the gallery finds the files.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsss.io import DataFileError
from wsss.methods.base import Method, Product


@dataclass(frozen=True)
class Scored:
    """One scored folder: its metrics key, the product it is, its scores."""

    key: str
    product: Product
    scores: dict[str, Any]

    @property
    def name(self) -> str:
        """The folder's name, the part of the key after the product's (``train``, ``val-ss``)."""
        return self.key.split("/", 1)[1]

    @property
    def title(self) -> str:
        return self.product.column.format(name=self.name)

    @property
    def folder(self) -> str | None:
        """The folder, relative to the run (None in runs scored before it was recorded)."""
        return self.scores.get("folder")

    @property
    def split(self) -> str | None:
        return self.scores.get("split")


def read_metrics(path: Path) -> dict[str, Any]:
    """The run's ``metrics.json``; empty when the run has not been scored yet."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataFileError(f"{path}: not valid JSON ({err}); delete it and run `wsss run` again") from err


def products(method: Method) -> dict[str, Product]:
    """``{metrics key prefix: product}`` of the method's stages, in stage order."""
    return {stage.produces.key: stage.produces for stage in method.stages if stage.produces is not None}


def scored_folders(metrics: dict[str, Any], method: Method) -> list[Scored]:
    """The entries of ``metrics`` that score a product of ``method``, in stage order."""
    known = products(method)
    order = list(known)
    entries = [Scored(key, known[key.split("/", 1)[0]], value) for key, value in metrics.items()
               if "/" in key and key.split("/", 1)[0] in known]
    return sorted(entries, key=lambda entry: order.index(entry.product.key))


def file_name(name: str) -> str:
    """``name`` (an image id, a split, a stage) as a file name: characters other than letters,
    digits, ``.``, ``_`` and ``-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
