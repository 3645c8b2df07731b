"""The benchmark scripts run end to end on tiny inputs and write the JSON the README describes."""
import json
import os
import subprocess
import sys

import pytest

from wsss.io import read_label_png
from wsss.methods import all_methods

SCRIPTS = {
    "random_walk.py": ["--sizes", "12", "--repeats", "1", "--threads", "1"],
    "auxsegnet_affinity.py": ["--crops", "48", "--image", "40", "56", "--chunk", "9", "--batch", "2",
                              "--channels", "8", "--threads", "1"],
}
TINY_DEMO = ["demo.num_train=8", "demo.num_val=4", "demo.size=64", "demo.num_classes=3", "model.backbone=tiny",
             "model.pretrained=false", "workers=0", "data.crop_size=64", "data.resize_long=[56,72]"]


def run_script(repo_root, tmp_path, script, *args):
    env = {**os.environ, "PYTHONPATH": str(repo_root / "src")}
    done = subprocess.run([sys.executable, str(repo_root / "benchmarks" / script), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("| ")
    return done


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_benchmark_prints_a_table_and_writes_json(script, repo_root, tmp_path):
    out = tmp_path / "result.json"
    run_script(repo_root, tmp_path, script, *SCRIPTS[script], "--out", str(out))
    results = json.loads(out.read_text())["results"]
    assert results and all(row.get("peak_mib") is not None or row.get("sparse_peak_mib") is not None for row in results)
    if script == "auxsegnet_affinity.py":
        assert next(r for r in results if "chunked" in r["case"])["max_abs_diff"] < 1e-5


def test_the_methods_benchmark_has_a_row_with_numbers_for_every_registered_method(repo_root, tmp_path):
    run_script(repo_root, tmp_path, "methods.py", "--tiny", "--threads", "1", "--out-dir", str(tmp_path / "runs"),
               "--results-dir", str(tmp_path))
    report = json.loads((tmp_path / "demo.json").read_text())
    rows = {row["method"]: row for row in report["results"]}
    assert list(rows) == [method.name for method in all_methods()]
    classes = report["setup"]["classes"]
    for row in rows.values():
        assert row["status"] == "ok", row
        for scores in (row["cam"], row["pseudo"], *row["seg"].values()):
            assert 0 <= scores["miou"] <= 1 and list(scores["iou"]) == classes
        assert len(row["seg"]) == 2 and row["inference"]["images"] == 4 and row["inference"]["images_per_s"] > 0
        assert row["training"] and row["training_s"] > 0 and row["peak_mib"] > 0
        assert row["command"].startswith("wsss run --config configs/") and "demo.num_train=8" in row["command"]
    assert rows["psa"]["pseudo"]["key"] == "pseudo/train" and "seeds/train" in rows["psa"]["labels"]
    assert rows["psa"]["classifier_from"] == "demo-auxsegnet"  # the same classifier settings: trained once
    assert "train-cls" in rows["auxsegnet"]["training"] and "train-cls" not in rows["psa"]["training"]
    assert set(rows["psa"]["stage_seconds"]) == set(rows["psa"]["training"]) | {"train-cls", "cams", "seeds", "pseudo",
                                                                               "predict"}
    markdown = (tmp_path / "demo.md").read_text()
    assert all(f"| {name} | ok |" in markdown for name in rows) and report["setup"]["machine"]["torch"] in markdown


def test_the_speed_benchmark_times_every_step(repo_root, tmp_path):
    run_script(repo_root, tmp_path, "speed.py", "--backbone", "tiny", "--size", "32", "--batch", "2", "--repeats",
               "1", "--walk-steps", "4", "--threads", "1", "--results-dir", str(tmp_path))
    results = json.loads((tmp_path / "speed_cpu.json").read_text())["results"]
    timed = [row for row in results if "images_per_s" in row]
    assert len(timed) >= 5 and all(row["images_per_s"] > 0 and row["peak_mib"] >= 0 for row in timed)
    assert "| classifier training | 32x32 |" in (tmp_path / "speed_cpu.md").read_text()


def test_the_methods_benchmark_runs_only_the_methods_named_and_refuses_an_unknown_one(repo_root, tmp_path):
    run_script(repo_root, tmp_path, "methods.py", "--tiny", "--threads", "1", "--methods", "psa",
               "--out-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path))
    assert [row["method"] for row in json.loads((tmp_path / "demo.json").read_text())["results"]] == ["psa"]
    done = subprocess.run([sys.executable, str(repo_root / "benchmarks" / "methods.py"), "--methods", "nosuch"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo_root / "src")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown method(s) nosuch" in done.stderr


def test_the_segmentation_ceiling_trains_on_the_ground_truth_masks_and_scores_both_predictions(repo_root, tmp_path):
    demo = tmp_path / "demo"
    run_script(repo_root, tmp_path, "seg_ceiling.py", "--config", str(repo_root / "configs" / "psa_demo.yaml"),
               "--out-dir", str(tmp_path / "runs"), "--threads", "1", "--out", str(tmp_path / "ceiling.json"),
               *TINY_DEMO, f"data.root={demo}", "seg.train.epochs=1", "name=ceiling")
    report = json.loads((tmp_path / "ceiling.json").read_text())
    assert [row["prediction"] for row in report["results"]] == ["val-ss", "val-ms"]
    assert all(0 <= row["miou"] <= 100 and len(row["iou"]) == 4 for row in report["results"])
    labels = sorted((tmp_path / "runs" / "ceiling" / "gt" / "train").glob("*.png"))
    assert len(labels) == 8
    for path in labels:
        assert (read_label_png(path) == read_label_png(demo / "SegmentationClass" / path.name)).all()
    assert (tmp_path / "runs" / "ceiling" / "checkpoints" / "seg.pt").is_file()


def test_the_seeds_benchmark_pairs_each_score_with_the_same_seeds_cam_and_reuses_finished_runs(repo_root, tmp_path):
    args = ["--config", str(repo_root / "configs" / "psa_demo.yaml"), "--threads", "1", "--out-dir",
            str(tmp_path / "runs"), *TINY_DEMO, "cam.scales=[1.0]", "cls.train.epochs=1", "aff.train.epochs=1",
            "seg.train.epochs=1", f"data.root={tmp_path / 'demo'}"]
    run_script(repo_root, tmp_path, "seeds.py", "--seeds", "0", "1", "--out", str(tmp_path / "two.json"), *args)
    report = json.loads((tmp_path / "two.json").read_text())
    assert [run["seed"] for run in report["runs"]] == [0, 1]
    assert all((tmp_path / "runs" / f"demo-s{seed}" / "metrics.json").is_file() for seed in (0, 1))
    rows = {row["score"]: row for row in report["results"]}
    assert {"cam/train", "pseudo/train", "preds/val-ss", "preds/val-ms"} <= set(rows)
    cams = [run["scores"]["cam/train"] for run in report["runs"]]
    pseudo = rows["pseudo/train"]
    assert rows["cam/train"]["values"] == cams and "gains" not in rows["cam/train"]
    assert pseudo["gains"] == [p - c for p, c in zip(pseudo["values"], cams)]
    assert pseudo["gain_min"] == min(pseudo["gains"]) and abs(pseudo["gain_mean"] - sum(pseudo["gains"]) / 2) < 1e-9
    assert "| cam/train |" in (tmp_path / "two.md").read_text()
    weights = [tmp_path / "runs" / "demo-s1" / "checkpoints" / f"{net}.pt" for net in ("cls", "aff", "seg")]
    written = [path.stat().st_mtime_ns for path in weights]
    run_script(repo_root, tmp_path, "seeds.py", "--seeds", "1", "--out", str(tmp_path / "one.json"), *args)
    assert [path.stat().st_mtime_ns for path in weights] == written  # the finished folder is reused, not retrained
    assert json.loads((tmp_path / "one.json").read_text())["runs"][0]["scores"] == report["runs"][1]["scores"]


def test_the_seeds_benchmark_refuses_a_bad_config_before_running_any_seed(repo_root, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(repo_root / "src")}
    done = subprocess.run([sys.executable, str(repo_root / "benchmarks" / "seeds.py"), "--config", "nope.yaml",
                           "--out-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "s.json")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "config file not found: nope.yaml" in done.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "s.json").exists()
