"""AffinityNet (Ahn & Kwak, CVPR 2018): pixel embeddings whose distance gives pair affinities.

Three backbone levels are reduced by 1x1 convs (64/128/256 channels), passed through ELU,
brought to the resolution of the shallowest of them (stride 8), concatenated, and mixed by one
more 1x1 conv + ELU (``AffinityEmbeddingHead``). ``a_ij = exp(-mean_c |f_i - f_j|)`` over the
pairs within a radius.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from wsss.models.base import TaskNet
from wsss.models.factory import register_model
from wsss.models.heads import AffinityEmbeddingHead
from wsss.ops.affinity import Offset, affinity_from_features


@register_model("affinity")
class AffinityNet(TaskNet):
    """``forward(x) -> (B, D, h, w)`` embeddings at the stride of the third-deepest level."""

    def __init__(self, backbone: nn.Module, dims: Sequence[int] = (64, 128, 256), init_gain: float = 1.0, *,
                 freeze_bn: bool = False, frozen: Sequence[str] = ()) -> None:
        super().__init__(backbone, freeze_bn=freeze_bn, frozen=frozen)
        self.embedding = AffinityEmbeddingHead(backbone.channels[-3:], dims, init_gain)

    def forward(self, x: Tensor) -> Tensor:
        return self.embedding(self.backbone(x)[-3:])

    def affinities(self, x: Tensor, offsets: Sequence[Offset]) -> Tensor:
        """(B, P, h, w) affinities between each pixel and its neighbours at ``offsets``."""
        return affinity_from_features(self(x), offsets)

    def new_layers(self) -> list[nn.Module]:
        return [self.embedding]
