"""A finished tiny PSA run on the demo set, made once for the report tests."""
from pathlib import Path

import pytest

from wsss.cli import main


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, demo_root, fast_run) -> tuple[Path, list[str]]:
    """(run folder, the overrides that made it); `wsss run` has written its report already."""
    out = tmp_path_factory.mktemp("report-run")
    args = [*fast_run, f"data.root={demo_root}", f"out_dir={out}", "name=r", "cls.train.log_every=2"]
    assert main(["run", "--quiet", *args]) == 0
    return out / "r", args
