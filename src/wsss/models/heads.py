"""Heads: the new layers a task network puts on a backbone's features.

``LargeFOVHead`` and ``ASPPHead`` (DeepLab) map the deepest level to class logits;
``AffinityEmbeddingHead`` (AffinityNet) maps the three deepest levels to pixel embeddings.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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
    """DeepLab-v2 ASPP (parallel 3x3 convs at dilations 6/12/18/24, summed) behind a normalised
    projection (1x1 conv to ``channels``, BatchNorm, ReLU).

    The projection is not in DeepLab-v2, whose branches read ResNet's ReLU features: the last
    level of EfficientNet-Lite is a linear projection (std about 1.5, 320 channels), and on it the
    four summed branches at the head's 10x learning rate swung the loss to 10-20 on the demo and
    diverged on coco_voc_mini (loss 2.4 -> 12-43).
    """

    def __init__(self, in_channels: int, num_classes: int, *, channels: int = 256,
                 rates: tuple[int, ...] = (6, 12, 18, 24)) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels),
                                     nn.ReLU(inplace=True))
        self.branches = nn.ModuleList(nn.Conv2d(channels, num_classes, 3, padding=r, dilation=r) for r in rates)
        for branch in self.branches:
            nn.init.normal_(branch.weight, std=0.01)
            nn.init.zeros_(branch.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.project(x)
        return sum(branch(x) for branch in self.branches)


class AffinityEmbeddingHead(nn.Module):
    """Levels -> (B, sum(dims), h, w) embeddings at the resolution of the first (shallowest) level.

    Each level is reduced by a 1x1 conv to ``dims[i]`` channels and passed through ELU; the
    levels are resized to the first one's size, concatenated, and mixed by a 1x1 conv + ELU
    (xavier init with gain ``init_gain``; PSA's released code uses 4).
    """

    def __init__(self, in_channels: Sequence[int], dims: Sequence[int], init_gain: float = 1.0) -> None:
        super().__init__()
        self.reduce = nn.ModuleList(nn.Conv2d(c, d, 1, bias=False) for c, d in zip(in_channels, dims))
        self.mix = nn.Conv2d(sum(dims), sum(dims), 1, bias=False)
        for conv in self.reduce:
            nn.init.kaiming_normal_(conv.weight)
        nn.init.xavier_uniform_(self.mix.weight, gain=init_gain)

    def forward(self, levels: Sequence[Tensor]) -> Tensor:
        size = levels[0].shape[-2:]
        reduced = [F.elu(conv(f)) for conv, f in zip(self.reduce, levels)]
        reduced = [f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                   for f in reduced]
        return F.elu(self.mix(torch.cat(reduced, 1)))
