"""Segmentation networks on a backbone: DeepLab-LargeFOV and DeepLab-v2 ASPP heads.

Dilation rates are those of the papers at output stride 8 and are halved at stride 16, so the
field of view in pixels is the same at either stride.
"""
from __future__ import annotations

from torch import Tensor, nn

from wsss.models.cam_net import trainable

HEADS = ("largefov", "aspp")


class LargeFOVHead(nn.Module):
    """DeepLab-LargeFOV: 3x3 conv at dilation 12, two 1x1 convs, dropout between them."""

    def __init__(self, in_channels: int, num_classes: int, *, channels: int = 1024, rate: int = 12) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=rate, dilation=rate), nn.ReLU(inplace=True),
            nn.Dropout2d(0.5),
            nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True), nn.Dropout2d(0.5),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class ASPPHead(nn.Module):
    """DeepLab-v2 ASPP: parallel 3x3 convs at dilations 6/12/18/24, summed."""

    def __init__(self, in_channels: int, num_classes: int, *, rates: tuple[int, ...] = (6, 12, 18, 24)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_channels, num_classes, 3, padding=r, dilation=r) for r in rates)
        for branch in self.branches:
            nn.init.normal_(branch.weight, std=0.01)
            nn.init.zeros_(branch.bias)

    def forward(self, x: Tensor) -> Tensor:
        return sum(branch(x) for branch in self.branches)


class SegNet(nn.Module):
    """``forward(x) -> (B, C, h, w)`` class logits at the backbone's output stride."""

    def __init__(self, backbone: nn.Module, num_classes: int, *, head: str = "largefov",
                 head_channels: int = 1024) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown segmentation head '{head}'; choose one of {HEADS}")
        self.backbone = backbone
        scale = 8 / backbone.strides[-1]
        in_channels = backbone.channels[-1]
        if head == "largefov":
            self.head = LargeFOVHead(in_channels, num_classes, channels=head_channels, rate=max(1, round(12 * scale)))
        else:
            self.head = ASPPHead(in_channels, num_classes, rates=tuple(max(1, round(r * scale)) for r in (6, 12, 18, 24)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x)[-1])

    def param_groups(self, lr: float, head_lr_mult: float = 10.0) -> list[dict]:
        """Pretrained backbone at ``lr``, the new head at ``lr * head_lr_mult``."""
        return [{"params": trainable(self.backbone), "lr": lr},
                {"params": trainable(self.head), "lr": lr * head_lr_mult}]
