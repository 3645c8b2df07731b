"""Label reassignment against erroneous pseudo labels (AA&LR, Zhang et al., ACM MM 2021).

The paper gives no formula and the authors released no code for it; this is the reading of
DESIGN.md section 4, documented as such. Class centroids are the mean unit embeddings of the
confidently labelled pixels of a batch; each labelled pixel is compared (cosine) with the
centroids of the classes its image may hold, and where its nearest centroid is another class by
more than ``margin`` it is reassigned to that class (``relabel``) or left out (``ignore``). The
embedding loss pulls every labelled pixel towards the centroid of its (reassigned) class.
"""
from __future__ import annotations

import torch
from torch import Tensor

from wsss.constants import IGNORE

MODES = ("relabel", "ignore")


def allowed_classes(tags: Tensor, has_background: bool) -> Tensor:
    """(B, C) bool: the classes each image may hold, from its tags (B, K): the tagged classes, after
    background (class 0) when the dataset has one."""
    present = tags > 0
    if has_background:
        present = torch.cat([torch.ones_like(present[:, :1]), present], 1)
    return present


def class_centroids(embed: Tensor, labels: Tensor, confident: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """(centroids (C, D) of unit length, found (C,) bool) from embeddings (B, D, h, w) of the pixels
    where ``confident`` (B, h, w) holds, grouped by their labels (B, h, w)."""
    mask = confident & (labels != IGNORE)
    picked = embed.permute(0, 2, 3, 1)[mask]  # (P, D)
    classes = labels[mask].long()
    sums = torch.zeros(num_classes, embed.shape[1], dtype=embed.dtype, device=embed.device)
    sums.index_add_(0, classes, picked)
    counts = torch.bincount(classes, minlength=num_classes)
    return torch.nn.functional.normalize(sums, dim=1), counts > 0


def reassign_labels(embed: Tensor, labels: Tensor, allowed: Tensor, centroids: Tensor, found: Tensor, *,
                    margin: float, mode: str = "relabel") -> tuple[Tensor, Tensor]:
    """(new labels (B, h, w), the changed pixels (B, h, w) bool) by the cosine of unit embeddings
    (B, D, h, w) to the class centroids (C, D) that were ``found`` (C,); see ``reassign_by_similarity``."""
    sims = torch.einsum("bdhw,cd->bchw", embed, centroids)
    return reassign_by_similarity(sims, labels, allowed & found[None], margin=margin, mode=mode)


def reassign_by_similarity(sims: Tensor, labels: Tensor, usable: Tensor, *, margin: float,
                           mode: str = "relabel") -> tuple[Tensor, Tensor]:
    """(new labels (B, h, w), the changed pixels (B, h, w) bool) from per-class similarities
    (B, C, h, w) in [-1, 1].

    ``usable`` (B, C) bool: the classes that may compete in each image (its tags, and background if
    any, that have a centroid or prototype). A pixel changes when its most similar usable class is
    another class and beats its own class's similarity by more than ``margin``; a pixel whose own
    class is not usable is not judged.
    """
    if mode not in MODES:
        raise ValueError(f"unknown reassign mode {mode!r}; choose one of {MODES}")
    sims = sims.masked_fill(~usable[:, :, None, None], -2.0)
    best_sim, best = sims.max(1)
    labelled = labels != IGNORE
    own = sims.gather(1, torch.where(labelled, labels, 0).long()[:, None])[:, 0]
    judged = labelled & (own > -2.0)
    changed = judged & (best != labels) & (best_sim - own > margin)
    replacement = best.to(labels.dtype) if mode == "relabel" else torch.full_like(labels, IGNORE)
    return torch.where(changed, replacement, labels), changed


def centroid_loss(embed: Tensor, labels: Tensor, centroids: Tensor, found: Tensor) -> Tensor:
    """Mean ``1 - cos`` between each labelled pixel's embedding and its class centroid (0 if none)."""
    labelled = labels != IGNORE
    labelled &= found[torch.where(labelled, labels, 0).long()]
    if not labelled.any():
        return embed.sum() * 0
    pixels = embed.permute(0, 2, 3, 1)[labelled]
    return (1 - (pixels * centroids[labels[labelled].long()]).sum(1)).mean()
