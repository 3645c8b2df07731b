"""The prototype-guided multi-task network (Zhou, Luo & Li, 2024; a reading of the paper, see
``wsss.ops.prototypes``): AA&LR's layout (backbone, classifier for CAMs, LargeFOV segmentation
branch, projection head) plus K unit prototypes per segmentation class, kept as buffers so they
are saved in checkpoints.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.models.aalr_net import AALRNet
from wsss.models.factory import register_model
from wsss.ops.prototypes import momentum_update, prototype_sums


@register_model("prototype")
class PrototypeNet(AALRNet):
    """``AALRNet`` with ``prototypes`` (C, K, D) and ``seen`` (C, K), updated by ``update_prototypes``."""

    def __init__(self, backbone: nn.Module, num_classes: int, *, num_tags: int, prototypes: int = 4,
                 head_channels: int = 256, embed_dims: int = 64, dropout: float = 0.5, freeze_bn: bool = False) -> None:
        super().__init__(backbone, num_classes, num_tags=num_tags, head_channels=head_channels, embed_dims=embed_dims,
                         dropout=dropout, freeze_bn=freeze_bn)
        start = torch.randn(num_classes, prototypes, embed_dims, generator=torch.Generator().manual_seed(0))
        self.register_buffer("prototypes", F.normalize(start, dim=-1))
        self.register_buffer("seen", torch.zeros(num_classes, prototypes, dtype=torch.bool))

    @torch.no_grad()
    def update_prototypes(self, feats: Tensor, labels: Tensor, momentum: float) -> None:
        """Move the prototypes towards unit features (P, D) of class ``labels`` (P,), summed over
        every rank under torchrun, so all ranks keep the same prototypes."""
        sums, counts = prototype_sums(feats.float(), labels.long(), self.prototypes)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
            dist.all_reduce(counts)
        momentum_update(self.prototypes, self.seen, sums, counts, momentum)
