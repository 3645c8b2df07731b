"""The task networks on the tiny backbone: shapes, ranges, gradients, checkpoint keys."""
import pytest
import torch

from wsss.models.affinity_net import AffinityNet
from wsss.models.backbones import create_backbone
from wsss.models.cam_net import CAMNet
from wsss.models.seg_net import SegNet
from wsss.ops.affinity import neighbor_offsets


@pytest.mark.parametrize("output_stride", [8, 16])
def test_affinity_net_embeds_at_stride_8_and_every_parameter_learns(output_stride):
    net = AffinityNet(create_backbone("tiny", output_stride=output_stride), dims=(8, 16, 32))
    x = torch.rand(2, 3, 64, 64)
    feats = net(x)
    assert feats.shape == (2, 56, 8, 8)
    aff = net.affinities(x, neighbor_offsets(3))
    assert aff.shape[1] == len(neighbor_offsets(3)) and ((aff >= 0) & (aff <= 1)).all()
    (torch.randn_like(feats) * feats).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    groups = net.param_groups(0.1, 10.0)
    assert [g["lr"] for g in groups] == [0.1, 1.0]
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


@pytest.mark.parametrize("head", ["largefov", "aspp"])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_seg_net_heads(head, output_stride):
    net = SegNet(create_backbone("tiny", output_stride=output_stride), 5, head=head, head_channels=16)
    logits = net(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 5, 64 // output_stride, 64 // output_stride)
    assert torch.isfinite(logits).all()
    (torch.randn_like(logits) * logits).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_seg_net_dilation_keeps_the_field_of_view():
    fov8 = SegNet(create_backbone("tiny", output_stride=8), 3, head="largefov", head_channels=8)
    fov16 = SegNet(create_backbone("tiny", output_stride=16), 3, head="largefov", head_channels=8)
    assert fov8.head.body[0].dilation == (12, 12) and fov16.head.body[0].dilation == (6, 6)


def test_unknown_head_lists_choices():
    with pytest.raises(ValueError, match="largefov"):
        SegNet(create_backbone("tiny"), 3, head="unet")


# Saved checkpoints hold these keys: the layers each net adds to its backbone.
NEW_KEYS = {
    "cam": (lambda b: CAMNet(b, 3), {"classifier.weight"}),
    "affinity": (lambda b: AffinityNet(b, dims=(8, 16, 32)),
                 {"embedding.reduce.0.weight", "embedding.reduce.1.weight", "embedding.reduce.2.weight",
                  "embedding.mix.weight"}),
    "largefov": (lambda b: SegNet(b, 3, head_channels=8),
                 {f"head.body.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}),
    "aspp": (lambda b: SegNet(b, 3, head="aspp", head_channels=8),
             {f"head.branches.{i}.{p}" for i in range(4) for p in ("weight", "bias")}
             | {"head.project.0.weight"} | {f"head.project.1.{p}" for p in ("weight", "bias", "running_mean",
                                                                          "running_var", "num_batches_tracked")}),
}


@pytest.mark.parametrize("name", NEW_KEYS)
def test_state_dict_keys_are_the_backbone_and_the_named_layers(name):
    build, new_keys = NEW_KEYS[name]
    backbone = create_backbone("tiny")
    keys = set(build(backbone).state_dict())
    assert keys - new_keys == {f"backbone.{k}" for k in backbone.state_dict()}
    assert new_keys <= keys
