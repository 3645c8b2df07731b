"""The run's ``log.jsonl``: one JSON object per logged training step."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class RunLog:
    """Appends JSON lines to ``path`` (a run's ``log.jsonl``); only the main process writes."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, stage: str, **fields: Any) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"time": round(time.time(), 3), "stage": stage, **fields}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
