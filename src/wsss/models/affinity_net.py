"""AffinityNet (Ahn & Kwak, CVPR 2018): pixel embeddings whose distance gives pair affinities.

Three backbone levels are reduced by 1x1 convs (64/128/256 channels), passed through ELU,
brought to the resolution of the shallowest of them (stride 8), concatenated, and mixed by one
more 1x1 conv + ELU. ``a_ij = exp(-mean_c |f_i - f_j|)`` over the pairs within a radius.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.models.cam_net import trainable
from wsss.ops.affinity import Offset, affinity_from_features


class AffinityNet(nn.Module):
    """``forward(x) -> (B, D, h, w)`` embeddings at the stride of the third-deepest level."""

    def __init__(self, backbone: nn.Module, dims: Sequence[int] = (64, 128, 256)) -> None:
        super().__init__()
        self.backbone = backbone
        self.reduce = nn.ModuleList(
            nn.Conv2d(c, d, 1, bias=False) for c, d in zip(backbone.channels[-3:], dims)
        )
        self.mix = nn.Conv2d(sum(dims), sum(dims), 1, bias=False)
        for conv in self.reduce:
            nn.init.kaiming_normal_(conv.weight)
        nn.init.xavier_uniform_(self.mix.weight)

    def forward(self, x: Tensor) -> Tensor:
        levels = self.backbone(x)[-3:]
        size = levels[0].shape[-2:]
        reduced = [F.elu(conv(f)) for conv, f in zip(self.reduce, levels)]
        reduced = [f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                   for f in reduced]
        return F.elu(self.mix(torch.cat(reduced, 1)))

    def affinities(self, x: Tensor, offsets: Sequence[Offset]) -> Tensor:
        """(B, P, h, w) affinities between each pixel and its neighbours at ``offsets``."""
        return affinity_from_features(self(x), offsets)

    def param_groups(self, lr: float, head_lr_mult: float = 10.0) -> list[dict]:
        """Pretrained backbone at ``lr``, the new embedding layers at ``lr * head_lr_mult``."""
        head = [*trainable(self.reduce), *trainable(self.mix)]
        return [{"params": trainable(self.backbone), "lr": lr}, {"params": head, "lr": lr * head_lr_mult}]
