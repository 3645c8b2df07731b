"""Post-hoc refinement of class probabilities along image edges.

Two methods, each under its own name: the fully connected CRF of Kraehenbuehl & Koltun
(`dense_crf`, through the optional ``pydensecrf`` package) and pixel-adaptive refinement
(`pixel_adaptive_refine`, PAR of Ru et al., CVPR 2022 "AFA"), pure PyTorch, needing no
compiler. `refine` picks one and reports which ran.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

CRF_INSTALL_HINT = 'pip install "wsss[crf]" (or: pip install pydensecrf2)'
REFINE_METHODS = ("auto", "crf", "par", "none")


@dataclass(frozen=True)
class CRFParams:
    """Dense CRF kernels: a Gaussian (smoothness) and a bilateral (appearance) one."""

    gaussian_sxy: float
    gaussian_compat: float
    bilateral_sxy: float
    bilateral_srgb: float
    bilateral_compat: float
    iterations: int


CRF_PRESETS: dict[str, CRFParams] = {
    # PSA tool/imutils.py crf_inference (CAM refinement before affinity labels).
    "psa": CRFParams(3, 3, 80, 13, 10, 10),
    # AuxSegNet crf_for_sal (saliency update; their unary is a tempered -log p, ours softmax).
    "auxsegnet": CRFParams(3, 3, 60, 5, 5, 1),
    # AuxSegNet crf_inference_inf (post-processing of the segmentation output).
    "auxsegnet_seg": CRFParams(4, 3, 83, 5, 3, 10),
    # DeepLab v2 (ResNet-101, VOC): pos_w 3, pos_xy_std 1, bi_w 4, bi_xy_std 67, bi_rgb_std 3.
    "deeplab": CRFParams(1, 3, 67, 3, 4, 10),
}


def crf_params(params: CRFParams | str) -> CRFParams:
    """The parameters themselves, or the preset of that name (KeyError listing the presets)."""
    if isinstance(params, CRFParams):
        return params
    if params not in CRF_PRESETS:
        raise KeyError(f"unknown CRF preset {params!r}; available: {sorted(CRF_PRESETS)}")
    return CRF_PRESETS[params]


def crf_available() -> bool:
    """Whether ``pydensecrf`` can be imported."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def dense_crf(image: np.ndarray, probs: np.ndarray, params: CRFParams | str = "psa") -> np.ndarray:
    """Fully connected CRF mean-field inference from softmax probabilities.

    image: (H, W, 3) uint8 RGB; probs: (C, H, W), a distribution over C per pixel.
    Returns (C, H, W) float32 marginals (each pixel sums to 1).
    """
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError as err:
        raise ImportError(f"dense_crf needs the optional package pydensecrf: {CRF_INSTALL_HINT}") from err
    p = crf_params(params)
    c, h, w = probs.shape
    if image.shape != (h, w, 3):
        raise ValueError(f"image {image.shape} does not match probs {probs.shape}; expected ({h}, {w}, 3)")
    crf = dcrf.DenseCRF2D(w, h, c)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs.astype(np.float32))))
    crf.addPairwiseGaussian(sxy=p.gaussian_sxy, compat=p.gaussian_compat)
    crf.addPairwiseBilateral(sxy=p.bilateral_sxy, srgb=p.bilateral_srgb,
                             rgbim=np.array(image, dtype=np.uint8, order="C"), compat=p.bilateral_compat)
    return np.asarray(crf.inference(p.iterations), dtype=np.float32).reshape(c, h, w)


def _par_offsets(dilations: Sequence[int]) -> list[tuple[int, int]]:
    """The 8 neighbours of a 3x3 window at each dilation."""
    ring = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    return [(d * dy, d * dx) for d in dilations for dy, dx in ring]


def _neighbors(x: Tensor, offsets: Sequence[tuple[int, int]], pad: int) -> list[Tensor]:
    """x (B, C, H, W) sampled at each offset, borders replicated: a list of (B, C, H, W)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, [pad] * 4, mode="replicate")
    return [padded[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w] for dy, dx in offsets]


def _par_weights(image: Tensor, offsets: Sequence[tuple[int, int]], pad: int,
                 w_rgb: float, w_pos: float) -> Tensor:
    """PAR neighbour weights (B, K, H, W), summing to 1 over the K neighbours."""
    nbrs = torch.stack(_neighbors(image, offsets, pad), dim=2)  # (B, 3, K, H, W)
    std = nbrs.std(dim=2, keepdim=True)
    rgb = -((nbrs - image.unsqueeze(2)).abs() / (std + 1e-8) / w_rgb) ** 2
    dist = torch.tensor([float(np.hypot(dy, dx)) for dy, dx in offsets], device=image.device)
    pos = -(dist / dist.std() / w_rgb) ** 2
    weights = rgb.mean(1).softmax(1) + w_pos * pos.softmax(0).view(1, -1, 1, 1)
    return weights / (1 + w_pos)


def pixel_adaptive_refine(image: Tensor, probs: Tensor, *, dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
                          iterations: int = 10, w_rgb: float = 0.3, w_pos: float = 0.01) -> Tensor:
    """Pixel-adaptive refinement (PAR, Ru et al. CVPR 2022): repeated local averaging of the
    probabilities with weights from colour similarity over dilated 3x3 neighbourhoods.

    image: (B, 3, H, W) float, any intensity scale (differences are divided by their local
    std); probs: (B, C, H, W). Returns (B, C, H, W); a distribution stays a distribution
    (AFA's weights sum to 1 + w_pos; here they are divided by it). Not a CRF.
    """
    if image.shape[0] != probs.shape[0] or image.shape[-2:] != probs.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape)} and probs {tuple(probs.shape)} do not match")
    offsets = _par_offsets(dilations)
    pad = max(dilations)
    weights = _par_weights(image.to(probs.dtype), offsets, pad, w_rgb, w_pos)
    for _ in range(iterations):
        nbrs = _neighbors(probs, offsets, pad)
        probs = sum(weights[:, k:k + 1] * nb for k, nb in enumerate(nbrs))
    return probs


def refine(image: np.ndarray, probs: np.ndarray, method: str = "auto", *,
           crf: CRFParams | str = "psa", par_iterations: int = 10) -> tuple[np.ndarray, str]:
    """Refine one image's probabilities with ``method`` in "crf", "par", "none" or "auto"
    (the CRF when pydensecrf is installed, else PAR).

    image: (H, W, 3) uint8; probs: (C, H, W). Returns ((C, H, W) float32, name of what ran).
    """
    if method not in REFINE_METHODS:
        raise ValueError(f"unknown refinement {method!r}; available: {list(REFINE_METHODS)}")
    if method == "auto":
        method = "crf" if crf_available() else "par"
    if method == "crf":
        return dense_crf(image, probs, crf), "crf"
    if method == "par":
        img = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
        out = pixel_adaptive_refine(img, torch.from_numpy(probs).float()[None], iterations=par_iterations)
        return out[0].numpy(), "par"
    return probs.astype(np.float32), "none"
