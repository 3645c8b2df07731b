"""The run folder's lock: one command per folder, its holder named, a dead holder's lock taken over."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wsss.engine.run_lock import RunFolderError, RunLock


def hold(path: Path, pid: int, host: str | None = None) -> dict:
    record = {"pid": pid, "host": host or socket.gethostname(), "command": "wsss run name=x",
              "started": "2026-01-02 03:04:05 +0000"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return record


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_lock_names_its_holder_and_is_released(tmp_path: Path):
    path = tmp_path / "runs" / "t" / "run.lock"
    with RunLock(path):
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["command"] and holder["started"]
        with pytest.raises(RunFolderError) as err:
            RunLock(path).__enter__()
    assert f"pid {os.getpid()} on {socket.gethostname()}" in str(err.value)
    assert not path.exists()


def test_a_live_holder_is_refused_with_pid_host_command_and_start(tmp_path: Path):
    path = tmp_path / "run.lock"
    hold(path, os.getppid())
    with pytest.raises(RunFolderError) as err:
        RunLock(path).__enter__()
    assert str(err.value) == (
        f"{tmp_path} is in use by pid {os.getppid()} on {socket.gethostname()} (`wsss run name=x`, "
        f"started 2026-01-02 03:04:05 +0000); wait for it to end, use another run name (name=...), "
        f"or delete {path} if that process is gone")


def test_a_holder_on_another_host_is_not_taken_over(tmp_path: Path):
    path = tmp_path / "run.lock"
    hold(path, dead_pid(), host="some-other-machine")
    with pytest.raises(RunFolderError, match="some-other-machine"):
        RunLock(path).__enter__()


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path: Path):
    path = tmp_path / "run.lock"
    pid = dead_pid()
    hold(path, pid)
    notes = []
    with RunLock(path, note=notes.append):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and f"pid {pid}" in notes[0] and "no longer running" in notes[0]
    assert not path.exists()


def test_an_unwritable_run_folder_is_named(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RunFolderError, match=f"cannot write to the run folder {blocker / 't'}: .*set out_dir"):
        RunLock(blocker / "t" / "run.lock").__enter__()
