"""The single-stage network of AA&LR (Zhang et al., ACM MM 2021): one backbone, a classification
branch whose CAMs make the pseudo masks on the fly, a segmentation branch trained on them, and a
projection head on the segmentation features for the label-reassign step.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from wsss.models.base import TaskNet
from wsss.models.factory import register_model
from wsss.models.heads import LargeFOVHead


@register_model("aalr")
class AALRNet(TaskNet):
    """``forward(x) -> dict``: ``logits`` (B, K) and ``cams`` (B, K, h, w, before ReLU) of the K
    classes of the image tags, ``seg`` (B, C, h, w) segmentation logits, ``embed`` (B, D, h, w)
    unit-length pixel embeddings; ``cams(x)`` the ReLU'd CAMs (as the CAM network's)."""

    def __init__(self, backbone: nn.Module, num_classes: int, *, num_tags: int, head_channels: int = 256,
                 embed_dims: int = 64, dropout: float = 0.5, freeze_bn: bool = False) -> None:
        super().__init__(backbone, freeze_bn=freeze_bn)
        channels = backbone.channels[-1]
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_tags, 1, bias=False)
        nn.init.xavier_uniform_(self.classifier.weight)
        rate = max(1, round(12 * 8 / backbone.strides[-1]))  # LargeFOV's rate 12 at stride 8
        self.seg = LargeFOVHead(channels, num_classes, channels=head_channels, rate=rate)
        self.project = nn.Conv2d(head_channels, embed_dims, 1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        feats = self.backbone(x)[-1]
        hidden = self.seg.body[:-1](feats)  # LargeFOV's features before its classifier
        return {"logits": self.classifier(F.adaptive_avg_pool2d(self.dropout(feats), 1)).flatten(1),
                "cams": F.conv2d(feats, self.classifier.weight),
                "seg": self.seg.body[-1](hidden),
                "embed": F.normalize(self.project(hidden), dim=1)}

    def cams(self, x: Tensor) -> Tensor:
        return F.relu(F.conv2d(self.backbone(x)[-1], self.classifier.weight))

    def new_layers(self) -> list[nn.Module]:
        return [self.classifier, self.seg, self.project]
