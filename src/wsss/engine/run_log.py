"""The run's ``log.jsonl``: one JSON object per logged training step, and the same numbers in
TensorBoard event files when the ``tensorboard`` package is installed: ``tensorboard/<net>/``
beside it, one TensorBoard run per trained network (a row's ``net``, else its stage), so a
resumed training purges its own steps past the checkpoint and no other network's."""
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
        self._boards: dict[str, Any] = {}  # TensorBoard writer per net, opened at its first row; False: not installed
        self._purge: dict[str, int] = {}  # first step a resumed net logs again (``drop_after``)

    def write(self, stage: str, **fields: Any) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"time": round(time.time(), 3), "stage": stage, **fields}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if "step" not in fields:
            return
        net = str(fields.get("net", stage))
        if net not in self._boards:
            folder = self.path.parent / "tensorboard" / net
            self._boards[net] = open_board(folder, self._purge.get(net)) or False
        board = self._boards[net]
        if board:
            for key, value in fields.items():
                if key not in NOT_SCALARS and isinstance(value, (int, float)):
                    board.add_scalar(f"{stage}/{key}", value, fields["step"])
            board.flush()

    def close(self) -> None:
        """Close the TensorBoard writers that are open (the JSON lines need nothing)."""
        for board in self._boards.values():
            if board:
                board.close()
        self._boards.clear()

    def drop_after(self, step: int, **match: Any) -> None:
        """Remove the lines holding every ``match`` field with a step past ``step``, and any line a
        kill cut short: a training run that restarts from ``step`` logs them again, once."""
        if "net" in match:  # TensorBoard hides the net's events from this step on
            self._purge[str(match["net"])] = step + 1
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


def open_board(folder: Path, purge_step: int | None = None) -> Any:
    """A TensorBoard ``SummaryWriter`` on ``folder`` (hiding the events of its earlier files from
    ``purge_step`` on), or None when tensorboard is not installed (``pip install -e ".[tensorboard]"``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(folder), purge_step=purge_step)
