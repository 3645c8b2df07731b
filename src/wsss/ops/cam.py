"""Class activation maps: multi-scale + flip inference, normalisation, and CAM -> label map."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from wsss.constants import IGNORE


def multiscale_maps(map_fn: Callable[[Tensor], Tensor], image: Tensor, scales: Sequence[float],
                    flip: bool = True) -> Tensor:
    """Sum of dense maps (CAMs, class scores) over rescaled and mirrored copies of one image.

    image: (3, H, W); map_fn maps (B, 3, h, w) -> (B, C, h', w'). Returns (C, H, W) float32
    at the image's size.
    """
    size = image.shape[-2:]
    total: Tensor | None = None
    for scale in scales:
        x = image[None]
        if scale != 1.0:
            hw = [max(1, round(s * scale)) for s in size]
            x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False)
        if flip:
            x = torch.cat([x, x.flip(-1)])
        cams = map_fn(x).float()
        if flip:
            cams = cams[:1] + cams[1:].flip(-1)
        cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=False)[0]
        total = cams if total is None else total + cams
    return total


def normalize_cams(cams: Tensor, eps: float = 1e-5) -> Tensor:
    """Divide each class map (C, H, W) by its spatial maximum, giving values in [0, 1]."""
    peak = cams.flatten(1).amax(1).clamp_min(eps)
    return cams / peak[:, None, None]


def cam_argmax(cams: np.ndarray, mask_values: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(peak, label): the highest CAM value (H, W) and the mask value of its class (H, W).

    cams: (K, H, W) for the K present classes, whose mask values are ``mask_values``; K = 0
    gives peak 0 and label 255. NumPy, because per-pixel reductions over a few channels are
    an order of magnitude faster there than in torch on the CPU.
    """
    h, w = cams.shape[-2:]
    if len(mask_values) == 0:
        return np.zeros((h, w), np.float32), np.full((h, w), IGNORE, np.uint8)
    index = cams.argmax(0)
    peak = np.take_along_axis(cams, index[None], 0)[0]
    return peak, np.asarray(mask_values, dtype=np.uint8)[index]


def with_background(peak: np.ndarray, label: np.ndarray, bg_threshold: float) -> np.ndarray:
    """Background (0) wherever the highest CAM does not exceed ``bg_threshold``."""
    return np.where(peak > bg_threshold, label, 0).astype(np.uint8)


def cams_to_label(cams: np.ndarray, mask_values: Sequence[int], bg_threshold: float | None) -> np.ndarray:
    """Label map (H, W) uint8 from normalised CAMs of the image's present classes.

    With ``bg_threshold`` (datasets with a background class) a pixel whose highest CAM is not
    above it is background (0); without it (no background class) every pixel takes the argmax.
    """
    peak, label = cam_argmax(cams, mask_values)
    return label if bg_threshold is None else with_background(peak, label, bg_threshold)
