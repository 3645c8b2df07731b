"""The adaptive affinity loss of AA&LR (Zhang et al., ACM MM 2021), as the authors' released loss
code computes it (godlin-xdu/AALEPL ``Affinity_loss.py`` + ``affinity.py``; DESIGN.md section 4).

Each pixel i is paired with its eight neighbours j at offsets {-d, 0, d}^2 (d = 4); a pair is
dropped when either label is >= ``num_classes`` (255 included) or j lies outside the image. The
per-class binary KL of the neighbour against the centre is
``KL_ij = sum_c p_jc log(p_jc / p_ic) + q_jc log(q_jc / q_ic)`` with p clamped to [1e-4, 1] and
q = 1 - p (raw) clamped the same way, weighted by ``w_ij = max(conf_i, conf_j)``.
- Non-edge pairs (same label): mean of ``w KL`` over background pairs + mean over same-class
  object pairs.
- Edge pairs (different labels): one mean of ``max(0, margin w - KL)`` over all of them. (The
  code builds an object-edge and a background-edge set, but its object-edge set keeps the
  background-object pairs, so it is the whole edge set and the other is empty.)
Total ``L_ne + edge_weight L_e``; every mean runs over the whole batch. Empty sets: with edge
pairs an empty non-edge subset drops its term; with none, the loss is the non-edge sum only when
both non-edge subsets have pairs, else 0. Without a background class (``background=None``) every
class is an object class and the background subset is empty.
"""
from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-4


def neighbour_offsets(distance: int) -> list[tuple[int, int]]:
    """The eight offsets ``{-d, 0, d}^2`` without ``(0, 0)``."""
    return [(dy, dx) for dy in (-distance, 0, distance) for dx in (-distance, 0, distance) if (dy, dx) != (0, 0)]


def _pair_slices(offset: int, size: int) -> tuple[slice, slice]:
    """Slices of the centres and of their neighbours at ``offset`` along one axis, both inside."""
    return slice(max(0, -offset), size - max(0, offset)), slice(max(0, offset), size - max(0, -offset))


def adaptive_affinity_loss(probs: Tensor, labels: Tensor, confidence: Tensor, *, num_classes: int,
                           distance: int = 4, margin: float = 3.0, edge_weight: float = 2.0,
                           background: int | None = 0) -> Tensor:
    """The loss (a scalar) of class probabilities (N, C, H, W), labels (N, H, W) (255 = ignore) and a
    per-pixel confidence (N, H, W), computed in float32 or wider."""
    probs = probs.float() if probs.dtype in (torch.float16, torch.bfloat16) else probs
    p, q = probs.clamp(EPS, 1), (1 - probs).clamp(EPS, 1)
    confidence = confidence.to(probs.dtype)
    height, width = labels.shape[-2:]
    terms: dict[str, list[Tensor]] = {"bg": [], "obj": [], "edge": []}
    for dy, dx in neighbour_offsets(distance):
        (yi, yj), (xi, xj) = _pair_slices(dy, height), _pair_slices(dx, width)
        li, lj = labels[:, yi, xi], labels[:, yj, xj]
        kept = (li < num_classes) & (lj < num_classes)
        pi, pj, qi, qj = p[:, :, yi, xi], p[:, :, yj, xj], q[:, :, yi, xi], q[:, :, yj, xj]
        kl = (pj * torch.log(pj / pi) + qj * torch.log(qj / qi)).sum(1)
        weight = torch.maximum(confidence[:, yi, xi], confidence[:, yj, xj])
        same = kept & (li == lj)
        is_bg = li == background if background is not None else torch.zeros_like(same)
        terms["bg"].append((weight * kl)[same & is_bg])
        terms["obj"].append((weight * kl)[same & ~is_bg])
        terms["edge"].append(torch.relu(margin * weight - kl)[kept & (li != lj)])
    bg, obj, edge = (torch.cat(terms[k]) for k in ("bg", "obj", "edge"))
    if edge.numel():
        non_edge = sum(part.mean() for part in (bg, obj) if part.numel())
        return non_edge + edge_weight * edge.mean()
    if bg.numel() and obj.numel():
        return bg.mean() + obj.mean()
    return probs.sum() * 0  # zero, still attached to the graph
