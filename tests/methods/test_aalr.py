"""AA&LR as a method: the on-the-fly masks, the single training run on the demo, the ablation switches."""
import json

import pytest
import shutil

import torch

from wsss.cli import main
from wsss.methods.aalr.masks import online_masks

FAST_AALR = [
    "method=aalr", "model.backbone=tiny", "model.pretrained=false", "workers=0",
    "data.crop_size=64", "data.resize_long=[56,72]", "cam.scales=[1.0]",
    "aalr.train.epochs=3", "aalr.warmup_epochs=1", "aalr.train.batch_size=4", "aalr.head_channels=16",
    "aalr.embed_dims=8", "aalr.scales=[1.0,0.75]", "aalr.refine=par",
]


@pytest.fixture
def fast(fast_run):
    """FAST_AALR plus the session demo set's generator settings (so the set is not regenerated)."""
    return [*FAST_AALR, *(arg for arg in fast_run if arg.startswith("demo."))]


def test_masks_take_the_tagged_classes_argmax_and_background_below_the_threshold():
    cams = torch.zeros(1, 3, 4, 4)
    cams[0, 0, :, :2] = 2.0  # tagged class 0 on the left
    cams[0, 1, :, 2:] = 5.0  # untagged class 1: never a label
    cams[0, 2, :, 3] = 1.0  # tagged class 2 on the last column
    tags = torch.tensor([[1.0, 0.0, 1.0]])
    image = torch.zeros(1, 3, 4, 4)
    masks, confidence, ran = online_masks(cams, tags, image, bg_threshold=0.25, stride=1, method="none")
    assert ran == "none"
    assert masks.tolist() == [[[1, 1, 0, 3]] * 4]  # mask values: background 0, class k -> k + 1
    assert torch.all(confidence > 0.5)
    no_bg, _, _ = online_masks(cams, tags, image, bg_threshold=None, stride=1, method="none")
    assert set(no_bg.unique().tolist()) <= {0, 2}  # without background every pixel takes a tagged class


def test_one_training_run_on_the_demo_is_scored_and_the_ablation_switches_drop_their_losses(fast, 
        tmp_path, demo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--quiet", *fast, f"data.root={demo_root}", "name=full"]) == 0
    metrics = json.loads((tmp_path / "runs" / "full" / "metrics.json").read_text())
    assert {"cam/train", "pseudo/train", "seg/val-ss", "seg/val-ms"} <= set(metrics)
    logged = [json.loads(line) for line in (tmp_path / "runs" / "full" / "log.jsonl").read_text().splitlines()]
    assert {"cls", "ce", "aa", "embed"} <= set(logged[-1])
    ce_only = [*fast, f"data.root={demo_root}", "name=ce", "aalr.affinity_weight=0", "aalr.reassign=false"]
    assert main(["train-aalr", "--quiet", *ce_only]) == 0
    last = json.loads((tmp_path / "runs" / "ce" / "log.jsonl").read_text().splitlines()[-1])
    assert "ce" in last and "aa" not in last and "embed" not in last


def test_a_dataset_without_background_trains_on_the_argmax_of_its_classes(fast, tmp_path, demo_root, monkeypatch):
    root = tmp_path / "nobg"
    shutil.copytree(demo_root, root)
    (root / "demo.json").unlink()
    names = (root / "classes.txt").read_text().splitlines()
    (root / "classes.txt").write_text("\n".join(["ground", *names[1:]]) + "\n")  # class 0 is a class now
    monkeypatch.chdir(tmp_path)
    args = [*fast, "data.kind=voc", f"data.root={root}", "data.labels=masks", "name=nobg"]
    assert main(["run", "--quiet", *args]) == 0
    metrics = json.loads((tmp_path / "runs" / "nobg" / "metrics.json").read_text())
    assert metrics["pseudo/train"]["as_error"]["miou"] > 0


def test_the_warm_up_trains_classification_only():
    from wsss.data.classes import ClassSet
    from wsss.methods.aalr.config import AALRConfig
    from wsss.methods.aalr.training import make_step
    from wsss.models.factory import create_model

    classes = ClassSet(("background", "a", "b"), has_background=True)
    net = create_model("aalr", backbone="tiny", output_stride=16, pretrained=False, num_classes=3, num_tags=2,
                       head_channels=8, embed_dims=4)
    step = make_step(AALRConfig(warmup_epochs=1, affinity_distance=2, refine="none"), classes)
    batch = {"image": torch.rand(2, 3, 64, 64), "labels": torch.tensor([[1.0, 0.0], [1.0, 1.0]])}
    assert set(step(net, {**batch, "epoch": torch.tensor([0, 0])})) == {"loss", "cls"}
    terms = step(net, {**batch, "epoch": torch.tensor([1, 1])})
    assert {"cls", "ce", "aa", "embed", "reassigned"} <= set(terms) and torch.isfinite(terms["loss"])


def test_it_can_start_from_the_runs_classifier(fast, tmp_path, demo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*fast, f"data.root={demo_root}", "name=c", "aalr.init=classifier", "aalr.warmup_epochs=0",
            "cls.train.epochs=1", "cls.train.batch_size=4"]
    assert main(["train-aalr", "--quiet", *args]) == 0
    run = tmp_path / "runs" / "c" / "checkpoints"
    cls, aalr = (torch.load(run / f"{name}.pt", weights_only=True) for name in ("cls", "aalr"))
    assert aalr["meta"]["start"] == cls["meta"]


def test_under_torchrun_the_warm_up_and_the_ablations_leave_no_parameter_without_gradient(fast, tmp_path, demo_root):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "wsss",
               "train-aalr", "--quiet", *fast, f"data.root={demo_root}", "name=ddp", "aalr.reassign=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "runs" / "ddp" / "checkpoints" / "aalr.pt").is_file()


def test_two_runs_in_fresh_folders_give_identical_metrics_and_weights(fast, demo_root, assert_reproducible):
    assert_reproducible([*fast, f"data.root={demo_root}"])
