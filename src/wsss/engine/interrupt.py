"""SIGINT/SIGTERM during training: finish the step, checkpoint, then exit.

The handler only records the signal; the trainer asks ``requested()`` at each step boundary,
where every process agrees (one all-reduce under torchrun) so they all save and stop together.
A second signal stops at once.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

import torch
import torch.distributed as dist

from wsss.engine.runtime import Runtime

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after saving its checkpoint; ``--resume`` continues it."""


class StopRequest:
    """A context manager that turns SIGINT/SIGTERM into a request seen at the next step boundary."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
            self._previous = {sig: signal.signal(sig, self._record) for sig in SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def requested(self) -> bool:
        """True on every process once any of them received a signal."""
        flag = 0 if self.signal is None else int(self.signal)
        if self.runtime.distributed:
            shared = torch.tensor([flag], device=self.runtime.device)
            dist.all_reduce(shared, op=dist.ReduceOp.MAX)
            flag = int(shared.item())
        if flag and self.signal is None:
            self.signal = flag
        return bool(flag)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt  # a second signal: stop now
        self.signal = signum
