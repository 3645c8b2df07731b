"""The run's ``log.jsonl`` (one JSON object per logged step) and quiet-aware progress bars."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


class RunLog:
    """Appends JSON lines to ``run_dir/log.jsonl``; only the main process writes."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.path = Path(run_dir) / "log.jsonl"
        self.enabled = enabled

    def write(self, stage: str, **fields: Any) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"time": round(time.time(), 3), "stage": stage, **fields}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")


def progress(items: Iterable[T] | None, desc: str, enabled: bool = True, total: int | None = None) -> tqdm:
    """A tqdm bar over ``items``, shown only when ``enabled`` and stderr is a terminal."""
    show = enabled and sys.stderr.isatty()
    return tqdm(items, desc=desc, total=total, disable=not show, dynamic_ncols=True, leave=False)
