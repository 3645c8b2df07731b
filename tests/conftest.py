"""Shared fixtures: the repository root, a small generated demo set, fast run overrides, and the
reproducibility check every method passes."""
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from wsss.cli import main
from wsss.config import DemoConfig
from wsss.data import generate_demo

REPO = Path(__file__).resolve().parents[1]
DEMO = DemoConfig(num_train=16, num_val=6, size=64, num_classes=3, seed=0)

# A run that finishes in seconds on the CPU: tiny random backbone, a few steps, one scale.
FAST_RUN = [
    "model.backbone=tiny", "model.pretrained=false", "workers=0",
    "cls.train.epochs=2", "cls.train.batch_size=4", "data.crop_size=64", "data.resize_long=[56,72]",
    "cam.scales=[1.0]",
    "aff.train.epochs=1", "aff.train.batch_size=4",
    "seg.train.epochs=1", "seg.train.batch_size=4",
    "seg.head_channels=32", "seg.scales=[1.0,0.75]", "pseudo.steps=16", "seeds.refine=par",
    f"demo.num_train={DEMO.num_train}", f"demo.num_val={DEMO.num_val}", f"demo.size={DEMO.size}",
    f"demo.num_classes={DEMO.num_classes}",
]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def fast_run() -> list[str]:
    return list(FAST_RUN)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64-pixel demo set in VOC layout, generated once per session."""
    return generate_demo(tmp_path_factory.mktemp("demo") / "demo", DEMO)


@pytest.fixture
def assert_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], None]:
    """``check(args)``: ``wsss run`` twice with ``args`` in fresh run folders gives the same metrics
    (timings aside) and bit-identical weights in every checkpoint, so methods compare on equal terms."""

    def check(args: list[str]) -> None:
        monkeypatch.chdir(tmp_path)
        runs = [tmp_path / "runs" / name for name in ("twin-a", "twin-b")]
        for run in runs:
            assert main(["run", "--quiet", *args, f"name={run.name}"]) == 0
        a, b = (json.loads((run / "metrics.json").read_text()) for run in runs)
        a.pop("timings_s"), b.pop("timings_s")
        assert a == b
        checkpoints = sorted(path.name for path in (runs[0] / "checkpoints").glob("*.pt"))
        assert checkpoints
        for name in checkpoints:
            wa, wb = (torch.load(run / "checkpoints" / name, weights_only=True)["model"] for run in runs)
            assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name

    return check
