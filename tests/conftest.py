"""Shared fixtures: the repository root, a small generated demo set, and fast run overrides."""
from pathlib import Path

import pytest

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
