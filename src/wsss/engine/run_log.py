"""The run's ``log.jsonl``: one JSON object per logged training step."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from wsss.io import atomic_write_text


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

    def drop_after(self, step: int, **match: Any) -> None:
        """Remove the lines holding every ``match`` field with a step past ``step``, and any line a
        kill cut short: a training run that restarts from ``step`` logs them again, once."""
        if not self.enabled or not self.path.is_file():
            return
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not _dropped(line, step, match)]
        if kept != lines:
            atomic_write_text(self.path, "".join(kept))


def _dropped(line: str, step: int, match: dict[str, Any]) -> bool:
    if not line.endswith("\n"):
        return True
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return True
    return all(record.get(k) == v for k, v in match.items()) and record.get("step", 0) > step
