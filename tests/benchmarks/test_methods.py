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


def _finished_run(out_dir, name, config):
    from wsss.config import save_config
    (out_dir / name / "checkpoints").mkdir(parents=True)
    (out_dir / name / "checkpoints" / "cls.pt").write_bytes(b"weights of " + name.encode())
    save_config(config, out_dir / name / "config.yaml")


def test_a_run_starts_from_the_classifier_of_an_earlier_run_with_the_same_classifier_settings(
        methods_script, repo_root, tmp_path):
    psa = load_config(repo_root / "configs" / "psa_coco_voc_mini.yaml", ["name=coco-psa"])
    _finished_run(tmp_path, "coco-psa", psa)
    aalr = load_config(repo_root / "configs" / "aalr_coco_voc_mini.yaml", ["name=coco-aalr"])
    assert methods_script.share_classifier(aalr, tmp_path, "coco-aalr") == "coco-psa"
    assert (tmp_path / "coco-aalr" / "checkpoints" / "cls.pt").read_bytes() == b"weights of coco-psa"
    other = load_config(repo_root / "configs" / "aalr_coco_voc_mini.yaml", ["cls.train.epochs=3"])
    assert methods_script.share_classifier(other, tmp_path, "coco-aalr3") is None
    assert not (tmp_path / "coco-aalr3").exists()


def test_a_partial_benchmark_keeps_the_other_methods_rows(methods_script, tmp_path):
    import json
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"setup": {"mode": "quick"}, "results": [{"method": "psa", "run": 1},
                                                                        {"method": "aalr", "run": 1}]}))
    rows = methods_script.merged_rows(path, [{"method": "aalr", "run": 2}], "quick")
    assert sorted((row["method"], row["run"]) for row in rows) == [("aalr", 2), ("psa", 1)]
    assert methods_script.merged_rows(path, [{"method": "aalr", "run": 2}], "full schedules") == [
        {"method": "aalr", "run": 2}]


def test_a_published_figure_stands_beside_the_measured_one(methods_script):
    cells = [{"method": "psa", "seg": "test-ss 5.1"}, {"method": "aalr", "seg": "test-ss 4.0"}]
    columns, notes = methods_script.with_published("camvid", cells)
    titles = [title for _, title, _ in columns]
    assert titles[titles.index("segmentation mIoU (the config's val split)") + 1] == "published segmentation mIoU"
    assert [cell["published"] for cell in cells] == ["15.5", "-"]
    assert any("AffinityNet" in line for line in notes)
    assert methods_script.with_published("msrc", [{"method": "psa"}]) == (methods_script.COLUMNS, [])
