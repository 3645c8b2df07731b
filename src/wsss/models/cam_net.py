"""The classification network whose class activation maps seed every method.

Backbone -> Dropout2d -> global average pooling -> 1x1 conv without bias (Ahn & Kwak 2018;
Zhou et al. 2016). The same 1x1 weights applied before pooling give the CAMs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from wsss.models.base import TaskNet
from wsss.models.factory import register_model


@register_model("cam")
class CAMNet(TaskNet):
    """``forward(x) -> logits (B, C)``; ``cams(x) -> (B, C, h, w) >= 0`` at the output stride."""

    def __init__(self, backbone: nn.Module, num_classes: int, *, dropout: float = 0.5,
                 freeze_bn: bool = False, frozen: Sequence[str] = ()) -> None:
        super().__init__(backbone, freeze_bn=freeze_bn, frozen=frozen)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(backbone.channels[-1], num_classes, 1, bias=False)
        nn.init.xavier_uniform_(self.classifier.weight)

    def forward(self, x: Tensor) -> Tensor:
        feats = self.dropout(self.backbone(x)[-1])
        return self.classifier(F.adaptive_avg_pool2d(feats, 1)).flatten(1)

    def cams(self, x: Tensor) -> Tensor:
        return F.relu(self.classifier(self.backbone(x)[-1]))

    def new_layers(self) -> list[nn.Module]:
        return [self.classifier]


def multilabel_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Multi-label soft margin loss over the image's class tags."""
    return F.multilabel_soft_margin_loss(logits, labels)
