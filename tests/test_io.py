"""Atomic writes: the file appears whole, with the mode a plain ``open()`` would give it."""
import os
from pathlib import Path

import pytest

from wsss.io import atomic_write_text


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_write_respects_the_umask(tmp_path: Path, umask: int):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    mode = (tmp_path / "config.yaml").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask == (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert (tmp_path / "config.yaml").read_text() == "a: 1\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
