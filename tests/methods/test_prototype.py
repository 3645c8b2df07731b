"""The prototype method: one run on the demo, prototypes saved in the checkpoint, the ablation switches,
and datasets without a background class."""
import json

import pytest
import shutil

import torch

from wsss.cli import main

FAST_PROTOTYPE = [
    "method=prototype", "model.backbone=tiny", "model.pretrained=false", "workers=0",
    "data.crop_size=64", "data.resize_long=[56,72]", "cam.scales=[1.0]",
    "prototype.train.epochs=3", "prototype.warmup_epochs=1", "prototype.train.batch_size=4",
    "prototype.head_channels=16", "prototype.embed_dims=8", "prototype.prototypes=2", "prototype.confident=0.0",
    "prototype.scales=[1.0,0.75]",
]


@pytest.fixture
def fast(fast_run):
    """FAST_PROTOTYPE plus the session demo set's generator settings (so the set is not regenerated)."""
    return [*FAST_PROTOTYPE, *(arg for arg in fast_run if arg.startswith("demo."))]


def test_one_run_on_the_demo_scores_cam_localization_and_pseudo_labels(fast, tmp_path, demo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--quiet", *fast, f"data.root={demo_root}", "name=p"]) == 0
    run = tmp_path / "runs" / "p"
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"cam/train", "loc/train", "pseudo/train", "seg/val-ss", "seg/val-ms"} <= set(metrics)
    state = torch.load(run / "checkpoints" / "prototype.pt", weights_only=True)["model"]
    assert state["prototypes"].shape == (4, 2, 8) and state["seen"].any()  # saved, and updated in training
    assert torch.allclose(state["prototypes"].norm(dim=-1), torch.ones(4, 2), atol=1e-5)
    logged = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert {"cls", "ce", "contrast"} <= set(logged)


def test_the_ablations_run(fast, tmp_path, demo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*fast, f"data.root={demo_root}", "name=a", "prototype.rectify=false",
            "prototype.background_prototypes=true"]
    assert main(["run", "--quiet", *args]) == 0


def test_without_background_the_background_prototypes_are_refused_and_off_by_default(fast, tmp_path, demo_root,
                                                                                      monkeypatch, capsys):
    root = tmp_path / "nobg"
    shutil.copytree(demo_root, root)
    (root / "demo.json").unlink()
    names = (root / "classes.txt").read_text().splitlines()
    (root / "classes.txt").write_text("\n".join(["ground", *names[1:]]) + "\n")
    monkeypatch.chdir(tmp_path)
    args = [*fast, "data.kind=voc", f"data.root={root}", "data.labels=masks", "name=nobg"]
    assert main(["run", "--quiet", *args, "prototype.background_prototypes=true"]) == 1
    assert "background_prototypes=true needs a dataset with a background class" in capsys.readouterr().err
    assert main(["run", "--quiet", *args]) == 0


def test_it_can_start_from_the_runs_classifier(fast, tmp_path, demo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*fast, f"data.root={demo_root}", "name=c", "prototype.init=classifier", "prototype.warmup_epochs=0",
            "cls.train.epochs=1", "cls.train.batch_size=4"]
    assert main(["train-prototype", "--quiet", *args]) == 0
    run = tmp_path / "runs" / "c" / "checkpoints"
    assert torch.load(run / "prototype.pt", weights_only=True)["meta"]["start"] == \
        torch.load(run / "cls.pt", weights_only=True)["meta"]


def test_background_under_a_constant_score_is_confident_and_its_prototypes_learn(fast, tmp_path, demo_root,
                                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*fast, f"data.root={demo_root}", "name=bg", "prototype.confident=0.6",
            "prototype.background_prototypes=true"]
    assert main(["train-prototype", "--quiet", *args]) == 0
    seen = torch.load(tmp_path / "runs" / "bg" / "checkpoints" / "prototype.pt", weights_only=True)["model"]["seen"]
    assert seen[0].any()  # the background's prototypes were updated


def test_under_torchrun_the_prototype_update_is_summed_over_ranks(fast, tmp_path, demo_root):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "wsss",
               "train-prototype", "--quiet", *fast, f"data.root={demo_root}", "name=ddp",
               "prototype.background_prototypes=true"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state = torch.load(tmp_path / "runs" / "ddp" / "checkpoints" / "prototype.pt", weights_only=True)["model"]
    assert state["seen"].any() and torch.allclose(state["prototypes"].norm(dim=-1), torch.ones(4, 2), atol=1e-5)


def test_two_runs_in_fresh_folders_give_identical_metrics_and_weights(fast, demo_root, assert_reproducible):
    assert_reproducible([*fast, f"data.root={demo_root}"])
