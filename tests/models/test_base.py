"""TaskNet: two learning-rate groups over every trainable parameter, frozen backbone BatchNorm."""
import pytest
import torch
from torch import nn

from wsss.models.affinity_net import AffinityNet
from wsss.models.backbones import create_backbone
from wsss.models.base import TaskNet
from wsss.models.cam_net import CAMNet
from wsss.models.seg_net import SegNet

NETS = {
    "cam": lambda: CAMNet(create_backbone("tiny"), 3),
    "cam_frozen_bn": lambda: CAMNet(create_backbone("tiny"), 3, freeze_bn=True),
    "affinity": lambda: AffinityNet(create_backbone("tiny"), dims=(8, 16, 32)),
    "segmentation": lambda: SegNet(create_backbone("tiny"), 3, head_channels=16),
}


def batchnorms(net: TaskNet) -> list[nn.Module]:
    return [m for m in net.backbone.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("name", NETS)
def test_param_groups_cover_every_trainable_parameter_once(name):
    net = NETS[name]()
    groups = net.param_groups(0.01, head_lr_mult=20.0)
    assert [g["lr"] for g in groups] == [0.01, 0.2]
    backbone, new = ({id(p) for p in g["params"]} for g in groups)
    assert len(backbone) == len(groups[0]["params"]) and len(new) == len(groups[1]["params"])
    assert backbone == {id(p) for p in net.backbone.parameters() if p.requires_grad}
    assert new and backbone.isdisjoint(new)
    assert backbone | new == {id(p) for p in net.parameters() if p.requires_grad}


def test_frozen_batchnorm_stays_in_eval_mode_and_learns_nothing():
    net = CAMNet(create_backbone("tiny"), 3, freeze_bn=True).train()
    bns = batchnorms(net)
    assert bns and not any(bn.training for bn in bns)
    assert not any(p.requires_grad for bn in bns for p in bn.parameters())
    assert net.training and net.backbone.stem[0].training  # only BatchNorm is held in eval mode
    before = [bn.running_mean.clone() for bn in bns]
    net(torch.rand(2, 3, 64, 64))
    assert all(torch.equal(bn.running_mean, old) for bn, old in zip(bns, before))
    assert not any(bn.training for bn in batchnorms(net.eval().train()))


def test_batchnorm_trains_by_default():
    net = CAMNet(create_backbone("tiny"), 3).eval().train()
    assert all(bn.training and bn.weight.requires_grad for bn in batchnorms(net))


def test_frozen_backbone_modules_keep_their_weights_and_leave_the_groups():
    net = AffinityNet(create_backbone("tiny"), dims=(8, 16, 32), frozen=["stem", "stages.0"])
    fixed = [*net.backbone.stem.parameters(), *net.backbone.stages[0].parameters()]
    assert fixed and not any(p.requires_grad for p in fixed)
    grouped = {id(p) for g in net.param_groups(0.1) for p in g["params"]}
    assert grouped.isdisjoint(id(p) for p in fixed)
    assert all(p.requires_grad for p in net.backbone.stages[1].parameters())
    with pytest.raises(ValueError, match=r"no such module; its modules: \['normalize', 'stem', 'stages'\]"):
        CAMNet(create_backbone("tiny"), 3, frozen=["conv1a"])


def test_bias_groups_as_psa_x1_x2_x10_x20_without_weight_decay_on_biases():
    net = SegNet(create_backbone("tiny"), 3, head_channels=16)
    groups = net.param_groups(0.01, 10.0, bias_lr_mult=2.0)
    assert [g["lr"] for g in groups] == pytest.approx([0.01, 0.02, 0.1, 0.2])
    assert [g.get("weight_decay") for g in groups] == [None, 0.0, None, 0.0]
    assert all(p.ndim > 1 for p in groups[0]["params"] + groups[2]["params"])
    assert all(p.ndim == 1 for p in groups[1]["params"] + groups[3]["params"]) and groups[3]["params"]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(p.requires_grad for p in net.parameters())
