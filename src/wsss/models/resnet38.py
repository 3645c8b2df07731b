"""The wide ResNet-38 of PSA (Ahn & Kwak 2018, ``resnet38d``): pre-activation, output stride 8.

Stride 2 in b2, b3, b4; b5 is dilated 2, the bottleneck blocks b6 and b7 are dilated 4, so the
network keeps stride 8 (the only ``output_stride`` it accepts). Levels, shallow -> deep, are the
activated inputs of b4, b5 and b6 and the activated output of b7:
256 channels at stride 4, 512 / 1024 / 4096 channels at stride 8 (PSA's conv4, conv5, conv6).

Weights: module names are PSA's, so a file in PSA's key format loads as it is: the ImageNet
model converted from MXNet by PSA's ``convert_mxnet_to_torch``
(``ilsvrc-cls_rna-a1_cls1000_ep-0001.params`` -> ``conv1a.weight``, ``b2.bn_branch2a.weight``,
``b4_3.conv_branch2b1.weight``, ``b7.conv_branch2b2.weight``, ``bn7.running_var`` ...), a PSA
checkpoint (``res38_cls.pth``: its head keys such as ``fc8.weight`` are skipped), or the state
dict of this module. BatchNorm's ``num_batches_tracked`` may be absent.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from wsss.models.backbone_base import IMAGENET_MEAN, IMAGENET_STD, Backbone, check_output_stride

# (name, blocks, in, mid, out, stride, dilation) of the stages of two 3x3 convolutions.
_STAGES = [
    ("b2", 3, 64, 128, 128, 2, 1),
    ("b3", 3, 128, 256, 256, 2, 1),
    ("b4", 6, 256, 512, 512, 2, 1),
    ("b5", 3, 512, 512, 1024, 1, 2),
]
_TAPS = ("b4", "b5", "b6")  # blocks whose activated input is a level


class _Block(nn.Module):
    """Pre-activation block: BN-ReLU, 3x3 conv, BN-ReLU, 3x3 conv, plus the (projected) input."""

    def __init__(self, c_in: int, mid: int, c_out: int, stride: int, first_dilation: int, dilation: int) -> None:
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(c_in)
        self.conv_branch2a = nn.Conv2d(
            c_in, mid, 3, stride, padding=first_dilation, dilation=first_dilation, bias=False
        )
        self.bn_branch2b1 = nn.BatchNorm2d(mid)
        self.conv_branch2b1 = nn.Conv2d(mid, c_out, 3, padding=dilation, dilation=dilation, bias=False)
        self.conv_branch1 = None if c_in == c_out and stride == 1 else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(output, activated input): the second is what PSA taps as features."""
        activated = F.relu(self.bn_branch2a(x))
        shortcut = x if self.conv_branch1 is None else self.conv_branch1(activated)
        branch = self.conv_branch2a(activated)
        branch = self.conv_branch2b1(F.relu(self.bn_branch2b1(branch)))
        return shortcut + branch, activated


class _Bottleneck(nn.Module):
    """Pre-activation bottleneck (1x1 to c_out/4, dilated 3x3 to c_out/2, 1x1 to c_out) with dropout."""

    def __init__(self, c_in: int, c_out: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(c_in)
        self.conv_branch2a = nn.Conv2d(c_in, c_out // 4, 1, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(c_out // 4)
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = nn.Conv2d(
            c_out // 4, c_out // 2, 3, padding=dilation, dilation=dilation, bias=False
        )
        self.bn_branch2b2 = nn.BatchNorm2d(c_out // 2)
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(c_out // 2, c_out, 1, bias=False)
        self.conv_branch1 = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(output, activated input), as ``_Block``."""
        activated = F.relu(self.bn_branch2a(x))
        branch = self.conv_branch2a(activated)
        branch = self.conv_branch2b1(self.dropout_2b1(F.relu(self.bn_branch2b1(branch))))
        branch = self.conv_branch2b2(self.dropout_2b2(F.relu(self.bn_branch2b2(branch))))
        return self.conv_branch1(activated) + branch, activated


class ResNet38(Backbone):
    """PSA's ResNet-38 trunk as a ``Backbone``: levels of 256/512/1024/4096 channels at strides 4/8/8/8."""

    def __init__(self, output_stride: int = 8) -> None:
        check_output_stride(output_stride, allowed=(8,))
        super().__init__([256, 512, 1024, 4096], [4, 8, 8, 8], IMAGENET_MEAN, IMAGENET_STD)
        self.conv1a = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.block_names: list[str] = []
        for name, count, c_in, mid, c_out, stride, dilation in _STAGES:
            for i in range(count):
                block = _Block(c_in if i == 0 else c_out, mid, c_out, stride if i == 0 else 1,
                               first_dilation=1 if i == 0 else dilation, dilation=dilation)
                self._add_block(name if i == 0 else f"{name}_{i}", block)
        self._add_block("b6", _Bottleneck(1024, 2048, dilation=4, dropout=0.3))
        self._add_block("b7", _Bottleneck(2048, 4096, dilation=4, dropout=0.5))
        self.bn7 = nn.BatchNorm2d(4096)

    def _add_block(self, name: str, block: nn.Module) -> None:
        """Register ``block`` under PSA's name and remember the running order."""
        self.add_module(name, block)
        self.block_names.append(name)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        x = self.conv1a(x)
        levels = []
        for name in self.block_names:
            x, activated = getattr(self, name)(x)
            if name in _TAPS:
                levels.append(activated)
        levels.append(F.relu(self.bn7(x)))
        return levels
