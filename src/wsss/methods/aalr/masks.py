"""AA&LR's pseudo masks made on the fly from the network's current CAMs.

The CAMs of the image's classes (ReLU, each divided by its max) at 1/``mask_stride`` of the crop;
with a background class a constant background score ``bg_threshold`` joins them; the scores,
normalised to sum 1 per pixel, are refined (dense CRF, or PAR, as ``refine`` picks); the argmax
is the mask and its probability the pixel's confidence. Without a background class the argmax
runs over the image's classes only.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from wsss.data.transforms import to_uint8
from wsss.ops.crf import refine


def online_masks(cams: Tensor, tags: Tensor, image: Tensor, *, bg_threshold: float | None, stride: int,
                 method: str) -> tuple[Tensor, Tensor, str]:
    """(masks (B, H', W') long of mask values, confidence (B, H', W'), the refinement that ran) at
    1/``stride`` of ``image`` (B, 3, H, W), from raw CAMs (B, K, h, w) and tags (B, K)."""
    size = (max(1, image.shape[-2] // stride), max(1, image.shape[-1] // stride))
    present = tags > 0
    cams = F.relu(cams.detach().float()) * present[:, :, None, None]
    cams = cams / cams.amax((2, 3), keepdim=True).clamp_min(1e-5)
    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=False)
    if bg_threshold is not None:
        cams = torch.cat([torch.full_like(cams[:, :1], bg_threshold), cams], 1)
        present = torch.cat([torch.ones_like(present[:, :1]), present], 1)
    small = F.interpolate(image.detach().float(), size=size, mode="bilinear", align_corners=False)
    masks, confidence, ran = [], [], "none"
    for scores, allowed, picture in zip(cams, present, small):
        probs = scores.clamp_min(1e-5) * allowed[:, None, None]
        probs = (probs / probs.sum(0, keepdim=True)).cpu().numpy()
        refined, ran = refine(to_uint8(picture), probs, method)
        refined = torch.from_numpy(np.ascontiguousarray(refined)).to(cams.device)
        refined = refined.masked_fill(~allowed[:, None, None], -1.0)
        best, label = refined.max(0)
        masks.append(label)
        confidence.append(best)
    return torch.stack(masks), torch.stack(confidence), ran
