"""Pixel affinities of PSA / AffinityNet (Ahn & Kwak, CVPR 2018): neighbour pairs, labels, loss.

A pair is a pixel p and its neighbour p + o for an offset o of the *half* neighbourhood
(`neighbor_offsets`); the other half is the same pairs seen from the neighbour. Pair tensors are
laid out (..., P, H, W): entry [k, y, x] is the pair (y, x) -- (y + dy_k, x + dx_k).

Border rule: every pair whose two pixels lie inside the map is used. PSA's released code instead
only takes pairs starting at pixels at least radius - 1 from the left, right and bottom borders
(it crops the map; `source_crop`); the pairs it keeps are a subset of ours.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from wsss.constants import IGNORE

Offset = tuple[int, int]
Slices = tuple[slice, slice]


def neighbor_offsets(radius: int) -> list[Offset]:
    """PSA's half neighbourhood (dy, dx) within ``radius``, in PSA's order.

    Row 0: (0, dx) for 0 < dx < radius (the right half only); then rows 0 < dy < radius with
    -radius < dx < radius and dy^2 + dx^2 < radius^2. Each unordered pair {p, q} of pixels
    closer than ``radius`` appears exactly once. radius 5 gives 34 offsets.
    """
    offsets = [(0, dx) for dx in range(1, radius)]
    for dy in range(1, radius):
        offsets += [(dy, dx) for dx in range(1 - radius, radius) if dy * dy + dx * dx < radius ** 2]
    return offsets


def _overlap(n: int, d: int) -> tuple[slice, slice]:
    """Along an axis of length n: the indices i with 0 <= i + d < n, and the indices i + d."""
    return slice(max(0, -d), max(0, n - d)), slice(max(0, d), max(0, n + d))


def neighbor_slices(h: int, w: int, offset: Offset) -> tuple[Slices, Slices]:
    """(rows, cols) of the pixels p whose neighbour p + offset lies in an h x w map, and of those
    neighbours: ``x[..., *src]`` pairs element-wise with ``x[..., *dst]``."""
    (ys, yd), (xs, xd) = _overlap(h, offset[0]), _overlap(w, offset[1])
    return (ys, xs), (yd, xd)


def valid_pairs(h: int, w: int, offsets: Sequence[Offset],
                device: torch.device | str | None = None) -> Tensor:
    """(P, H, W) bool: True where the neighbour p + o of p lies inside the map."""
    valid = torch.zeros(len(offsets), h, w, dtype=torch.bool, device=device)
    for k, offset in enumerate(offsets):
        src, _ = neighbor_slices(h, w, offset)
        valid[(k, *src)] = True
    return valid


def source_crop(h: int, w: int, radius: int, device: torch.device | str | None = None) -> Tensor:
    """(H, W) bool: the pixels PSA's released code starts pairs from (``train_aff.py``, ``infer_aff.py``).

    Rows ``[0, H - (r - 1))`` and columns ``[r - 1, W - (r - 1))``: the sources whose whole half
    neighbourhood lies in the map. Masking pairs with it gives the authors' pair set.
    """
    crop = torch.zeros(h, w, dtype=torch.bool, device=device)
    band = radius - 1
    crop[:max(0, h - band), band:max(band, w - band)] = True
    return crop


def affinity_from_features(feats: Tensor, offsets: Sequence[Offset]) -> Tensor:
    """AffinityNet affinities ``a(p, p+o) = exp(-mean_d |f(p) - f(p+o)|)``.

    feats: (B, D, H, W). Returns (B, P, H, W) in (0, 1]; pairs leaving the map are 0 (see
    `valid_pairs`). Differentiable.
    """
    b, _, h, w = feats.shape
    aff = feats.new_zeros(b, len(offsets), h, w)
    for k, offset in enumerate(offsets):
        src, dst = neighbor_slices(h, w, offset)
        diff = (feats[(..., *src)] - feats[(..., *dst)]).abs().mean(1)
        aff[(slice(None), k, *src)] = torch.exp(-diff)
    return aff


def affinity_labels(seeds: Tensor, offsets: Sequence[Offset], ignore_index: int = IGNORE,
                    background: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Pair labels from a seed label map, as PSA trains AffinityNet.

    seeds: (B, H, W) long, 0 = background, ``ignore_index`` = unknown. Returns (bg_pos, fg_pos,
    neg), each (B, P, H, W) bool: both pixels background / both the same class / both labelled
    and different. Pairs touching an ignored pixel or leaving the map are in none. With
    ``background=False`` (datasets without a background class) every same-label pair is fg_pos
    and bg_pos is empty.
    """
    b, h, w = seeds.shape
    shape = (b, len(offsets), h, w)
    same = torch.zeros(shape, dtype=torch.bool, device=seeds.device)
    differ = torch.zeros_like(same)
    for k, offset in enumerate(offsets):
        src, dst = neighbor_slices(h, w, offset)
        a, c = seeds[(..., *src)], seeds[(..., *dst)]
        labelled = (a != ignore_index) & (c != ignore_index)
        same[(slice(None), k, *src)] = labelled & (a == c)
        differ[(slice(None), k, *src)] = labelled & (a != c)
    if not background:
        return torch.zeros_like(same), same, differ
    is_bg = (seeds == 0).unsqueeze(1)
    return same & is_bg, same & ~is_bg, differ


def full_precision(x: Tensor) -> Tensor:
    """``x`` in float32 when it is half or bfloat16 (autocast output), else as it is (float64 stays)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask``; 0 (with a zero gradient) for an empty mask."""
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp_min(1)


def affinity_loss(aff: Tensor, bg_pos: Tensor, fg_pos: Tensor, neg: Tensor,
                  eps: float = 1e-5) -> tuple[Tensor, dict[str, Tensor]]:
    """PSA's affinity loss ``bg+/4 + fg+/4 + neg/2``.

    aff: (B, P, H, W) in [0, 1]; masks as from `affinity_labels`. Each term is the mean of
    -log(a + eps) over positive pairs or -log(1 + eps - a) over negative pairs, over the whole
    batch; an empty set contributes 0. Returns (total, detached terms by name).
    """
    terms = {
        "bg_pos": _masked_mean(-torch.log(aff + eps), bg_pos),
        "fg_pos": _masked_mean(-torch.log(aff + eps), fg_pos),
        "neg": _masked_mean(-torch.log(1 + eps - aff), neg),
    }
    total = terms["bg_pos"] / 4 + terms["fg_pos"] / 4 + terms["neg"] / 2
    return total, {name: t.detach() for name, t in terms.items()}
