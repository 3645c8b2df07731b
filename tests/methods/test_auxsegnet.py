"""AuxSegNet as a method: the fusion rule, the rounds on the demo, and what it refuses."""
import json

import numpy as np
import pytest
import torch

from wsss.cli import main
from wsss.config import CamConfig, ConfigError
from wsss.data.classes import ClassSet
from wsss.methods.auxsegnet import check_background
from wsss.methods.auxsegnet.config import AuxConfig
from wsss.methods.auxsegnet.fusion import fuse
from wsss.methods.auxsegnet.rounds import propagated_cams
from wsss.models.factory import create_model
from wsss.ops.cam import multiscale_maps, normalize_cams

# A run of seconds: tiny backbone, two rounds of one epoch, narrow branches
FAST_AUX = [
    "method=auxsegnet", "model.backbone=tiny", "model.pretrained=false", "workers=0",
    "cls.train.epochs=2", "cls.train.batch_size=4", "data.crop_size=64", "data.resize_long=[56,72]",
    "cam.scales=[1.0]", "aux.rounds=2", "aux.train.epochs=1", "aux.channels=8", "aux.chunk=16",
    "aux.scales=[1.0,0.75]", "aux.saliency_refine=par",
]


@pytest.fixture
def fast(fast_run):
    """FAST_AUX plus the session demo set's generator settings (so the set is not regenerated)."""
    return [*FAST_AUX, *(arg for arg in fast_run if arg.startswith("demo."))]


def test_fusion_on_a_4x4_example():
    cams = np.zeros((2, 4, 4), np.float32)
    cams[0, :2, :2] = 0.9  # class A, salient: A
    cams[1, :2, 2:] = 0.5
    cams[0, :2, 3] = 0.5  # a tie between A and B: the lower class
    cams[1, 2:, :2] = 0.15  # below the CAM threshold ...
    saliency = np.zeros((4, 4), np.float32)
    saliency[:2] = 0.9
    saliency[2:, :2] = 0.5  # ... but salient: unsure
    saliency[:2, 2] = 0.06  # not above the saliency threshold: unsure
    label = fuse(cams, np.array([3, 7], np.uint8), saliency, cam_threshold=0.2, saliency_threshold=0.06)
    assert label.tolist() == [
        [3, 3, 255, 3],
        [3, 3, 255, 3],
        [255, 255, 0, 0],
        [255, 255, 0, 0],
    ]


def test_an_image_without_tags_is_background_where_not_salient():
    saliency = np.array([[0.0, 0.9]], np.float32)
    assert fuse(np.zeros((0, 1, 2), np.float32), np.zeros(0, np.uint8), saliency, 0.2, 0.06).tolist() == [[0, 255]]


def test_a_dataset_without_background_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="background class"):
        check_background(None, ClassSet(("grass", "sky", "cow"), has_background=False))


def test_the_rounds_run_on_the_demo_and_every_round_is_scored(fast, tmp_path, demo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*fast, f"data.root={demo_root}", "name=aux"]
    assert main(["run", "--quiet", *args]) == 0
    run = tmp_path / "runs" / "aux"
    assert (run / "checkpoints" / "aux-r1.pt").is_file() and (run / "checkpoints" / "aux-r2.pt").is_file()
    for folder in ("pseudo/train-round0", "pseudo/train-round1", "saliency/train", "saliency/train-round1",
                   "preds/val-ss", "preds/val-ms"):
        assert any((run / folder).glob("*.png")), folder
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"pseudo/train-round0", "pseudo/train-round1", "seg/val-ss", "seg/val-ms"} <= set(metrics)
    # a second run finds everything done and changes nothing
    before = (run / "checkpoints" / "aux-r2.pt").stat().st_mtime_ns
    assert main(["run", "--quiet", *args]) == 0
    assert (run / "checkpoints" / "aux-r2.pt").stat().st_mtime_ns == before


def test_each_relabel_source_propagates_the_cams_it_names():
    """'own' is the forward pass's propagated CAMs; 'own_multiscale' propagates the network's CAMs at
    the CAM section's scales and flip, exactly as if they were given as the run's CAMs; the
    propagation is linear in the given maps; the three sources differ; re-normalised maps peak at 1."""
    torch.manual_seed(0)
    net = create_model("auxsegnet", backbone="tiny", output_stride=8, pretrained=False, num_classes=4,
                       channels=8).eval()
    image, present, cam = torch.randn(3, 48, 40), torch.tensor([0, 2]), CamConfig(scales=(1.0, 0.5), flip=True)
    given = torch.rand(2, 48, 40)
    with torch.no_grad():
        maps = {source: propagated_cams(net, image, present, AuxConfig(relabel_cams=source), cam, given)[1]
                for source in ("own", "own_multiscale", "classifier")}
        assert all(m.shape == (1, 2, 6, 5) for m in maps.values())
        assert torch.equal(maps["own"], net(image[None], propagate_cams=True)["cams_ref"][:, present])
        own_multiscale = normalize_cams(multiscale_maps(net.cams, image, cam.scales, cam.flip)[present])
        as_given = propagated_cams(net, image, present, AuxConfig(relabel_cams="classifier"), cam, own_multiscale)[1]
        assert torch.allclose(maps["own_multiscale"], as_given, atol=1e-6)
        doubled = propagated_cams(net, image, present, AuxConfig(relabel_cams="classifier"), cam, 2 * given)[1]
        assert torch.allclose(doubled, 2 * maps["classifier"], atol=1e-6)
        renormalized = propagated_cams(net, image, present, AuxConfig(relabel_cams="own_multiscale", renormalize=True),
                                       cam, given)[1]
    assert torch.allclose(renormalized.amax((2, 3)), torch.ones(1, 2), atol=1e-4)
    assert not torch.allclose(maps["own"], maps["own_multiscale"], atol=1e-3)
    assert not torch.allclose(maps["own_multiscale"], maps["classifier"], atol=1e-3)


def test_under_torchrun_every_stage_runs_and_every_round_is_complete(fast, tmp_path, demo_root):
    """Two processes (gloo): the rounds train with DistributedDataParallel and the per-image stages
    (CAMs, saliency, fusion, relabelling, prediction) are sharded, each folder complete."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "wsss",
               "run", "--quiet", *fast, f"data.root={demo_root}", "name=ddp", "cls.train.batch_size=4",
               "aux.train.batch_size=4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "ddp"
    train, val = (len((demo_root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split())
                  for split in ("train", "val"))
    for folder, count in [("pseudo/train-round0", train), ("pseudo/train-round1", train),
                          ("saliency/train-round1", train), ("preds/val-ss", val), ("preds/val-ms", val)]:
        assert len(list((run / folder).glob("*.png"))) == count, folder
    assert "seg/val-ss" in json.loads((run / "metrics.json").read_text())


def test_two_runs_in_fresh_folders_give_identical_metrics_and_weights(fast, demo_root, assert_reproducible):
    assert_reproducible([*fast, f"data.root={demo_root}"])
