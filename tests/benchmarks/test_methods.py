"""benchmarks/methods.py: the shortened schedules and the rows of methods that cannot run."""
import argparse

import pytest

from wsss.config import load_config
from wsss.methods.base import Method


@pytest.fixture
def methods_script(repo_root, monkeypatch):
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import methods
    return methods


def test_quick_halves_every_schedule_and_keeps_warm_ups_below_it(methods_script, repo_root):
    cfg = load_config(repo_root / "configs" / "aalr_demo.yaml")
    assert methods_script.schedule_overrides(cfg, 0.5) == ["cls.train.epochs=4", "aalr.train.epochs=7",
                                                           "aalr.warmup_epochs=4"]
    tiny = methods_script.schedule_overrides(cfg, 0.1)
    assert load_config(repo_root / "configs" / "aalr_demo.yaml", tiny).aalr.warmup_epochs == 0  # a valid config


def test_a_method_without_a_config_for_the_dataset_is_listed_as_such(methods_script):
    toy = Method(name="toy", summary="", stages=())
    args = argparse.Namespace(dataset="demo")
    row = methods_script.bench_method(toy, args, None, None, [])
    assert row["status"] == "no config" and row["config"].endswith("configs/toy_demo.yaml")
