"""Segmentation networks on a backbone: DeepLab-LargeFOV and DeepLab-v2 ASPP heads
(``head_channels``: LargeFOV's width, ASPP's projection).

Dilation rates are those of the papers at output stride 8 and are halved at stride 16, so the
field of view in pixels is the same at either stride.
"""
from __future__ import annotations

from torch import Tensor, nn

from wsss.models.base import TaskNet
from wsss.models.factory import register_model
from wsss.models.heads import ASPPHead, LargeFOVHead

HEADS = ("largefov", "aspp")


@register_model("segmentation")
class SegNet(TaskNet):
    """``forward(x) -> (B, C, h, w)`` class logits at the backbone's output stride."""

    def __init__(self, backbone: nn.Module, num_classes: int, *, head: str = "largefov",
                 head_channels: int = 1024) -> None:
        if head not in HEADS:
            raise ValueError(f"unknown segmentation head '{head}'; choose one of {HEADS}")
        super().__init__(backbone)
        scale = 8 / backbone.strides[-1]
        in_channels = backbone.channels[-1]
        if head == "largefov":
            self.head = LargeFOVHead(in_channels, num_classes, channels=head_channels, rate=max(1, round(12 * scale)))
        else:
            self.head = ASPPHead(in_channels, num_classes, channels=head_channels,
                                 rates=tuple(max(1, round(r * scale)) for r in (6, 12, 18, 24)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x)[-1])

    def new_layers(self) -> list[nn.Module]:
        return [self.head]
