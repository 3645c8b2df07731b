import torch

from wsss.cli import main
from wsss.config import load_config
from wsss.models.backbones import create_backbone
from wsss.stages.context import StageContext
from wsss.stages.segmentation import masked_cross_entropy


def test_cross_entropy_ignores_255_and_is_zero_when_nothing_is_labelled():
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 4, 4), 255)
    loss = masked_cross_entropy(logits, target)
    assert loss.item() == 0.0
    loss.backward()
    target[0, 0, 0] = 1
    assert masked_cross_entropy(logits, target).item() == torch.log(torch.tensor(3.0)).item()


def _backbone_file(path, seed):
    torch.manual_seed(seed)
    torch.save(create_backbone("tiny", pretrained=False).state_dict(), path)
    return torch.load(path, weights_only=True)


def test_a_network_takes_the_shared_backbone_and_its_file_or_its_own_pair(tmp_path):
    shared = _backbone_file(tmp_path / "shared.pt", seed=1)
    own = _backbone_file(tmp_path / "own.pt", seed=2)
    cfg = load_config(overrides=["model.backbone=tiny", f"model.weights={tmp_path / 'shared.pt'}"])
    ctx = StageContext(cfg=cfg, runtime=None, paths=None, stage="train-seg", split="train")
    args = {"num_classes": 3, "head": "aspp", "head_channels": 8}
    for net, weights in ((ctx.create_model("segmentation", **args), shared),
                         (ctx.create_model("segmentation", backbone="tiny", weights=str(tmp_path / "own.pt"), **args),
                          own)):
        loaded = net.backbone.state_dict()
        assert all(torch.equal(loaded[key], value) for key, value in weights.items())
        assert net.arch["backbone"] == "tiny"


def test_the_segmentation_stage_trains_and_predicts_on_seg_backbone(tmp_path, demo_root, fast_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*fast_run, f"data.root={demo_root}", "seg.backbone=efficientnet_lite0", "name=own"]
    assert main(["train-seg", "--quiet", *args]) == 0
    assert main(["predict", "--quiet", *args]) == 0
    run = tmp_path / "runs" / "own"
    arch = {name: torch.load(run / "checkpoints" / f"{name}.pt", weights_only=True)["arch"]["backbone"]
            for name in ("cls", "aff", "seg")}
    assert arch == {"cls": "tiny", "aff": "tiny", "seg": "efficientnet_lite0"}
    assert len(list((run / "preds" / "val-ms").glob("*.png"))) == 6


def test_a_missing_seg_weights_file_stops_the_run_before_its_first_stage(tmp_path, demo_root, fast_run, capsys,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nowhere.pt"
    assert main(["run", "--quiet", *fast_run, f"data.root={demo_root}", "model.pretrained=true", "seg.backbone=tiny",
                 f"seg.weights={missing}", "name=early"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: 'seg.weights': no file {missing}") and err.count("\n") == 1
    assert not (tmp_path / "runs" / "early" / "checkpoints").exists()
