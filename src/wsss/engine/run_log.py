"""The run's ``log.jsonl``: one JSON object per logged training step, and the same numbers in
TensorBoard event files (``tensorboard/`` beside it) when the ``tensorboard`` package is installed."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from wsss.io import atomic_write_text

# Fields of a row that are not curves in TensorBoard (the step is its x axis).
NOT_SCALARS = frozenset({"step", "total", "time"})


class RunLog:
    """Appends JSON lines to ``path`` (a run's ``log.jsonl``); only the main process writes."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self._board: Any = None  # the TensorBoard writer, opened at the first row; False: not installed

    def write(self, stage: str, **fields: Any) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"time": round(time.time(), 3), "stage": stage, **fields}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._board is None:
            self._board = open_board(self.path.parent / "tensorboard") or False
        if self._board and "step" in fields:
            for key, value in fields.items():
                if key not in NOT_SCALARS and isinstance(value, (int, float)):
                    self._board.add_scalar(f"{stage}/{key}", value, fields["step"])
            self._board.flush()

    def close(self) -> None:
        """Close the TensorBoard writer, if one is open (the JSON lines need nothing)."""
        if self._board:
            self._board.close()
        self._board = None

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


def open_board(folder: Path) -> Any:
    """A TensorBoard ``SummaryWriter`` on ``folder``, or None when tensorboard is not installed
    (``pip install -e ".[tensorboard]"``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(folder))
