"""One process per run folder: a lock file that names its holder (pid, host, command, start).

Two commands on the same run folder at once would interleave ``log.jsonl`` and overwrite each
other's checkpoints. The lock is created atomically (a complete file linked into place, which
fails when one exists); a lock left by a process that is gone (same host, dead pid) is taken
over with a note. Under torchrun only rank 0 takes it.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsss.config import ConfigError


_UNKNOWN = {"pid": None, "host": "?", "command": "?", "started": "?"}  # a damaged lock file's holder


class RunFolderError(ConfigError):
    """A run folder that cannot be used: not writable, or in use by another process."""


class RunLock:
    """Context manager holding ``path`` for this process; ``note`` receives the takeover note."""

    def __init__(self, path: Path, note: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> None:
        self.path, self.note = Path(path), note
        self.record = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                       "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}

    def __enter__(self) -> RunLock:
        """Create the run folder and take the lock; a folder that cannot be written is named."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._take()
        except OSError as err:
            raise RunFolderError(f"cannot write to the run folder {self.path.parent}: {err.strerror or err}; "
                                 "set out_dir to a folder you can write to (or fix its permissions)") from err

    def _take(self) -> RunLock:
        for _ in range(3):  # a stale lock is removed, then taken; another process may win the race
            if self._create():
                return self
            holder = read_holder(self.path)
            if holder is not None and holder_alive(holder):
                raise RunFolderError(busy_message(self.path, holder))
            if holder is not None:
                self.note(f"note: taking over {self.path}: its holder, {describe(holder)}, is no longer running")
            self.path.unlink(missing_ok=True)
        raise RunFolderError(f"{self.path}: cannot take the lock, other processes keep taking it; "
                             "wait for them or use another run name (name=...)")

    def __exit__(self, *exc: Any) -> None:
        if read_holder(self.path) == self.record:
            self.path.unlink(missing_ok=True)

    def _create(self) -> bool:
        """Put a complete lock file at ``path`` unless one is there; True when this process holds it."""
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".new")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.record, handle)
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)


def read_holder(path: Path) -> dict[str, Any] | None:
    """The record in the lock file, None when there is none; an unreadable file counts as stale."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return dict(_UNKNOWN)
    return record if isinstance(record, dict) else dict(_UNKNOWN)


def holder_alive(holder: dict[str, Any]) -> bool:
    """False only when the holder's pid is certainly gone (this host, no such process)."""
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return False
    if holder.get("host") != socket.gethostname():
        return True  # another machine (a shared folder): cannot tell, so do not take it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(holder: dict[str, Any]) -> str:
    return (f"pid {holder.get('pid')} on {holder.get('host')} (`{holder.get('command')}`, "
            f"started {holder.get('started')})")


def busy_message(path: Path, holder: dict[str, Any]) -> str:
    return (f"{path.parent} is in use by {describe(holder)}; wait for it to end, use another run name "
            f"(name=...), or delete {path} if that process is gone")
