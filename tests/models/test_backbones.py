"""Backbone registry: shapes, strides, gradients, normalisation, ImageNet weights, errors."""

import importlib.util

import pytest
import skimage.data
import torch
import torch.nn.functional as F

from wsss.models.backbones import (
    IMAGENET_MEAN,
    Backbone,
    available_backbones,
    create_backbone,
    imagenet_classifier,
)
from wsss.models.weights import SHIPPED_PACKAGES, WeightsNotFoundError

ALL = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet101", "resnet38", "resnet50", "tiny"]
# lite1/2 weights are an optional extra (wsss[lite12]): without them those two start at random.
SHIPPED = {name for name, (_, module) in SHIPPED_PACKAGES.items() if importlib.util.find_spec(module)}
# resnet38 (stride 8 only, and the slowest) is checked once, in the gradient sweep.
LEVEL_CASES = [(name, os_) for name in ALL if name != "resnet38" for os_ in (8, 16)] + [("tiny", 32)]
GRADIENT_CASES = [("tiny", 8), ("tiny", 16), ("tiny", 32), ("efficientnet_lite0", 16), ("resnet38", 8)]


def build(name: str, output_stride: int) -> Backbone:
    """The backbone with its shipped ImageNet weights where they ship, random otherwise."""
    torch.manual_seed(0)
    return create_backbone(name, pretrained=name in SHIPPED, output_stride=output_stride)


def check_levels(backbone: Backbone, levels: list[torch.Tensor], output_stride: int, size: int = 64) -> None:
    """Four finite levels whose shapes are what ``.channels`` and ``.strides`` promise."""
    assert len(levels) == len(backbone.channels) == len(backbone.strides) == 4
    assert backbone.strides[-1] == output_stride
    assert backbone.strides == sorted(backbone.strides) and backbone.strides[0] == 4
    for level, channels, stride in zip(levels, backbone.channels, backbone.strides):
        assert level.shape == (2, channels, size // stride, size // stride)
        assert torch.isfinite(level).all()


def test_registry_lists_every_backbone():
    assert available_backbones() == ALL
    assert "efficientnet_lite0" in SHIPPED  # a core dependency: its ImageNet weights always ship


@pytest.mark.parametrize(("name", "output_stride"), LEVEL_CASES)
def test_levels_match_channels_and_strides(name, output_stride):
    backbone = build(name, output_stride).eval()
    with torch.no_grad():
        check_levels(backbone, backbone(torch.rand(2, 3, 64, 64)), output_stride)


@pytest.mark.parametrize(("name", "output_stride"), GRADIENT_CASES)
def test_every_parameter_gets_a_gradient(name, output_stride):
    backbone = build(name, output_stride).train()
    levels = backbone(torch.rand(2, 3, 64, 64))
    check_levels(backbone, levels, output_stride)
    # A random projection, not a plain sum: the sum of a train-mode BatchNorm output has zero gradient.
    (levels[-1] * torch.randn_like(levels[-1])).sum().backward()
    for pname, param in backbone.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(("name", "mean"), [("efficientnet_lite0", (0.5,) * 3), ("resnet50", IMAGENET_MEAN)])
def test_backbone_holds_its_input_statistics(name, mean):
    backbone = create_backbone(name, pretrained=False)
    torch.testing.assert_close(backbone.normalize.mean.flatten(), torch.tensor(mean))
    assert {"normalize.mean", "normalize.std"} <= {n for n, _ in backbone.named_buffers()}
    assert not any(k.startswith("normalize.") for k in backbone.state_dict())  # statistics are not weights


def test_forward_normalises_the_input():
    backbone = create_backbone("tiny").eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)[-1], backbone.forward_features((x - 0.5) / 0.5)[-1])


def test_unknown_name_lists_available():
    with pytest.raises(KeyError, match="available") as err:
        create_backbone("resnet18")
    assert all(name in str(err.value) for name in ALL)


@pytest.mark.parametrize(
    ("name", "output_stride"), [("tiny", 4), ("resnet50", 12), ("efficientnet_lite0", 64), ("resnet38", 16)]
)
def test_bad_output_stride_names_allowed_values(name, output_stride):
    with pytest.raises(ValueError, match=r"output_stride must be one of \[8"):
        create_backbone(name, pretrained=False, output_stride=output_stride)


@pytest.mark.parametrize("name", ["resnet50", "resnet101", "resnet38"])
def test_local_only_weights_need_a_path(name):
    with pytest.raises(WeightsNotFoundError) as err:
        create_backbone(name, output_stride=8)
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "no " + name + " weights ship on PyPI" in message
    assert "model.weights=" in message and "model.pretrained=false" in message


def test_resnet38_is_psa_resnet38d():
    backbone = create_backbone("resnet38", pretrained=False, output_stride=8)
    assert backbone.channels == [256, 512, 1024, 4096]
    assert backbone.strides == [4, 8, 8, 8]
    torch.testing.assert_close(backbone.normalize.mean.flatten(), torch.tensor(IMAGENET_MEAN))
    keys = backbone.state_dict()
    for key in ["conv1a.weight", "b2.bn_branch2a.weight", "b2.conv_branch1.weight", "b4_5.conv_branch2b1.weight",
                "b5_2.bn_branch2b1.running_var", "b6.conv_branch2b2.weight", "b7.conv_branch1.weight", "bn7.bias"]:
        assert key in keys, key
    assert "b2_1.conv_branch1.weight" not in keys  # identity shortcut where the shape is kept
    assert keys["b7.conv_branch2b1.weight"].shape == (2048, 1024, 3, 3)
    assert backbone.b6.conv_branch2b1.dilation == (4, 4) and backbone.b5.conv_branch2a.dilation == (1, 1)


def test_lite0_classifies_chelsea_as_a_cat():
    image = torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1)[None].float() / 255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        top1 = imagenet_classifier("efficientnet_lite0")(image).argmax(1).item()
    assert 281 <= top1 <= 285  # ImageNet's domestic cats: tabby .. Egyptian cat (lite0 gives 285)


def test_lite_backbone_holds_the_classifier_weights():
    classifier = imagenet_classifier("efficientnet_lite0")[1].state_dict()
    body = create_backbone("efficientnet_lite0", output_stride=16).body.state_dict()
    assert len(body) > 200
    for key, tensor in body.items():
        torch.testing.assert_close(tensor, classifier[key], rtol=0, atol=0, msg=key)


def test_imagenet_classifier_only_for_shipped_weights():
    with pytest.raises(KeyError, match="efficientnet_lite0"):
        imagenet_classifier("resnet50")
