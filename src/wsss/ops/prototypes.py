"""Class prototypes for the prototype-guided multi-task method (Zhou, Luo & Li, 2024).

The paper's public text gives the idea, not the equations; this is the reading of DESIGN.md
section 4, documented as such. Each class (background included when the dataset has one) keeps
K unit-length prototypes. An update assigns each confident pixel feature of a class to the
nearest of that class's prototypes and moves every prototype that received pixels towards their
mean: ``P <- normalise(m P + (1 - m) mean)`` (a prototype never updated before takes the mean).
Similarity maps are the cosine of each pixel to its class's nearest prototype.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wsss.constants import IGNORE


def prototype_sums(feats: Tensor, labels: Tensor, prototypes: Tensor) -> tuple[Tensor, Tensor]:
    """(sums (C, K, D), counts (C, K)) of unit features (P, D) with class labels (P,), each
    assigned to the nearest prototype (C, K, D) of its class. Summed (not averaged) so ranks can
    all-reduce them before ``momentum_update``."""
    num_classes, k, dims = prototypes.shape
    nearest = torch.einsum("pd,pkd->pk", feats, prototypes[labels]).argmax(1)
    slot = labels * k + nearest
    sums = torch.zeros(num_classes * k, dims, dtype=feats.dtype, device=feats.device).index_add_(0, slot, feats)
    counts = torch.bincount(slot, minlength=num_classes * k)
    return sums.view(num_classes, k, dims), counts.view(num_classes, k)


def momentum_update(prototypes: Tensor, seen: Tensor, sums: Tensor, counts: Tensor, momentum: float) -> None:
    """In place: every prototype with pixels moves to ``normalise(m P + (1 - m) mean)``, or to the
    mean itself when ``seen`` (C, K) says it has never been updated; ``seen`` is set."""
    hit = counts > 0
    mean = F.normalize(sums / counts.clamp_min(1)[..., None], dim=-1)
    moved = F.normalize(momentum * prototypes + (1 - momentum) * mean, dim=-1)
    updated = torch.where(seen[..., None], moved, mean)
    prototypes.copy_(torch.where(hit[..., None], updated, prototypes))
    seen |= hit


def similarity_maps(embed: Tensor, prototypes: Tensor) -> Tensor:
    """(B, C, h, w) cosine of each unit pixel embedding (B, D, h, w) to the nearest of each class's
    K prototypes (C, K, D), in [-1, 1]."""
    return torch.einsum("bdhw,ckd->bckhw", embed, prototypes).amax(2)


def contrastive_loss(embed: Tensor, labels: Tensor, prototypes: Tensor, temperature: float) -> Tensor:
    """Cross entropy of each labelled pixel's class against all classes, scored by the similarity to
    each class's nearest prototype over ``temperature`` (0 when no pixel is labelled)."""
    labelled = labels != IGNORE
    if not labelled.any():
        return embed.sum() * 0
    scores = similarity_maps(embed, prototypes) / temperature
    return F.cross_entropy(scores.permute(0, 2, 3, 1)[labelled], labels[labelled].long())
