"""Random walk propagation of CAMs with AffinityNet affinities (PSA, Ahn & Kwak, CVPR 2018).

The graph links every pixel to the pixels within the radius (the half-neighbourhood pairs of
`wsss.ops.affinity` in both directions) and to itself with affinity 1, as PSA's
``to_dense`` does. With ``W = a^beta`` (symmetric) and ``D`` its column sums (equal to its
row sums), PSA's ``infer_aff.py`` propagates ``cam_rw = cam . T^t`` with the column-normalised
``T = W D^-1``: each step replaces a pixel's scores by a weighted average of its neighbours'
(weights summing to 1), so maps stay in the range of their input.

`random_walk` applies the sparse row-stochastic ``D^-1 W`` (``= T`` transposed) t times to the
maps laid out as (pixels, channels): memory linear in H*W, on the device of its inputs.
A CSR product was chosen over neighbourhood gather with shifted slices: on 2 CPU threads
(21 channels, radius 5, t = 256) 0.06/0.16/0.35 s against 0.48/0.38/0.55 s at 32/56/80 px;
they tie at 128 px. `dense_random_walk` is PSA's dense computation, the reference.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from wsss.ops.affinity import Offset, neighbor_slices, valid_pairs


def background_cam(cams: Tensor, alpha: float) -> Tensor:
    """Prepend PSA's background score ``(1 - max_c cam)^alpha`` to CAMs normalised to [0, 1].

    cams: (..., C, H, W). Returns (..., C + 1, H, W); with no class maps the background is 1.
    """
    if cams.shape[-3] == 0:
        peak = cams.new_zeros((*cams.shape[:-3], 1, *cams.shape[-2:]))
    else:
        peak = cams.amax(dim=-3, keepdim=True)
    return torch.cat([(1 - peak).clamp_min(0) ** alpha, cams], dim=-3)


def _pairs(h: int, w: int, offsets: Sequence[Offset], device: torch.device) -> tuple[Tensor, ...]:
    """Flat indices of the in-map pairs: (pixel p, neighbour q, position of (p, o) in (P*H*W))."""
    pixel = torch.arange(h * w, device=device).view(h, w)
    src, dst, pos = [], [], []
    for k, offset in enumerate(offsets):
        s, d = neighbor_slices(h, w, offset)
        src.append(pixel[s].reshape(-1))
        dst.append(pixel[d].reshape(-1))
        pos.append(pixel[s].reshape(-1) + k * h * w)
    return torch.cat(src), torch.cat(dst), torch.cat(pos)


def _symmetric_weights(aff: Tensor, offsets: Sequence[Offset], beta: float) -> tuple[Tensor, ...]:
    """(rows, cols, values) of the block-diagonal ``W = a^beta`` with self loops, for a batch.

    aff: (B, P, H, W). Pixel i of image b is row b*H*W + i.
    """
    b, _, h, w = aff.shape
    n = h * w
    src, dst, pos = _pairs(h, w, offsets, aff.device)
    shift = (torch.arange(b, device=aff.device) * n)[:, None]
    src, dst = (src + shift).reshape(-1), (dst + shift).reshape(-1)
    vals = aff.reshape(b, -1)[:, pos].pow(beta).reshape(-1)
    self_loop = torch.arange(b * n, device=aff.device)
    rows = torch.cat([src, dst, self_loop])
    cols = torch.cat([dst, src, self_loop])
    return rows, cols, torch.cat([vals, vals, vals.new_ones(b * n)])


def _full_weights(aff: Tensor, offsets: Sequence[Offset], beta: float) -> tuple[list[Offset], Tensor]:
    """The symmetric neighbourhood in (dy, dx) order and ``W = a^beta`` over it, (B, K, H, W).

    K = 2P + 1: the half offsets, their opposites (``W(q, q - o) = W(q - o, q)``) and the self
    loop (weight 1); entries whose neighbour leaves the map are 0.
    """
    h, w = aff.shape[-2:]
    full = sorted({(0, 0), *offsets, *((-dy, -dx) for dy, dx in offsets)})
    index = {offset: k for k, offset in enumerate(full)}
    weights = aff.new_zeros(aff.shape[0], len(full), h, w)
    weights[:, index[0, 0]] = 1
    for k, (dy, dx) in enumerate(offsets):
        src, dst = neighbor_slices(h, w, (dy, dx))
        half = aff[(slice(None), k, *src)].pow(beta)
        weights[(slice(None), index[dy, dx], *src)] = half
        weights[(slice(None), index[-dy, -dx], *dst)] = half
    return full, weights


def _transition(aff: Tensor, offsets: Sequence[Offset], beta: float) -> Tensor:
    """Sparse CSR ``D^-1 W`` (rows sum to 1) over all pixels of the batch, (B*H*W, B*H*W).

    Built row by row without sorting: for a pixel, neighbours in (dy, dx) order have
    increasing flat indices, as CSR wants.
    """
    b, _, h, w = aff.shape
    full, weights = _full_weights(aff, offsets, beta)
    weights = (weights / weights.sum(1, keepdim=True)).permute(0, 2, 3, 1)  # (B, H, W, K)
    valid = valid_pairs(h, w, full, aff.device).permute(1, 2, 0).expand(b, -1, -1, -1)
    step = torch.tensor([dy * w + dx for dy, dx in full], device=aff.device)
    cols = torch.arange(b * h * w, device=aff.device).view(b, h, w, 1) + step
    counts = valid.sum(-1).reshape(-1)
    crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols[valid], weights[valid], (b * h * w,) * 2,
                                       check_invariants=False)


def _batched(cams: Tensor, aff: Tensor) -> tuple[Tensor, Tensor]:
    """Both inputs as 4-D (B, ., H, W), checking that they match."""
    if cams.dim() == 3:
        cams = cams[None]
    if aff.dim() == 3:
        aff = aff[None].expand(cams.shape[0], -1, -1, -1)
    if cams.dim() != 4 or aff.shape[0] != cams.shape[0] or aff.shape[2:] != cams.shape[2:]:
        raise ValueError(f"cams {tuple(cams.shape)} and aff {tuple(aff.shape)} do not match")
    return cams, aff.to(cams.dtype)


def random_walk(cams: Tensor, aff: Tensor, offsets: Sequence[Offset], *, beta: float = 8,
                steps: int = 256) -> Tensor:
    """Propagate CAMs by a t-step random walk on the affinity graph, sparsely.

    cams: (C, H, W) or (B, C, H, W), float32/float64; aff: half-neighbourhood affinities
    (P, H, W) or (B, P, H, W) for ``offsets`` (values of out-of-map pairs are not read).
    Returns the propagated maps, same shape and device as ``cams``. Memory O(B*H*W*(P + C)).
    """
    x, a = _batched(cams, aff)
    b, c, h, w = x.shape
    trans = _transition(a, offsets, beta)
    flat = x.permute(0, 2, 3, 1).reshape(b * h * w, c)
    for _ in range(steps):
        flat = trans @ flat
    return flat.reshape(b, h, w, c).permute(0, 3, 1, 2).reshape(cams.shape)


def dense_random_walk(cams: Tensor, aff: Tensor, offsets: Sequence[Offset], *,
                      beta: float = 8, steps: int = 256) -> Tensor:
    """Reference random walk as in PSA's ``infer_aff.py``: dense (N, N) ``T = W D^-1``,
    squared log2(steps) times, ``cam_rw = cam . T``. O(N^2) memory, O(N^3) time: tests and
    benchmarks only. Same arguments as `random_walk`; ``steps`` must be a power of two.
    """
    logt = round(math.log2(steps)) if steps > 0 else -1
    if logt < 0 or 2 ** logt != steps:
        raise ValueError(f"steps must be a power of two, got {steps}")
    x, a = _batched(cams, aff)
    b, c, h, w = x.shape
    out = []
    for i in range(b):
        rows, cols, vals = _symmetric_weights(a[i:i + 1], offsets, beta)
        weights = vals.new_zeros(h * w, h * w).index_put_((rows, cols), vals)
        trans = weights / weights.sum(0, keepdim=True)
        for _ in range(logt):
            trans = trans @ trans
        out.append(x[i].reshape(c, h * w) @ trans)
    return torch.stack(out).reshape(cams.shape)
