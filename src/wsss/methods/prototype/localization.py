"""Localization maps and pseudo labels of the prototype method (a reading of Zhou, Luo & Li, 2024).

Per tagged class: its CAM (ReLU, max-normalised) times the similarity of each pixel to the
class's nearest prototype, stretched to [0, 1] over the image (``stretch``), renormalised to a
peak of 1: the "normalised product" of DESIGN.md (the CAM itself while the class has no prototype
yet). The product keeps the CAM's pixels that look like the class's confident ones and damps the
others; the mean of the two (an earlier reading) spread every class over the background (36.2
against the CAM's 56.0 on the demo). Background: the stretched similarity to the background
prototypes (the constant ``bg_threshold`` before they exist, with ``background_prototypes:
false``, and on datasets without a background class, where the argmax runs over the image's
classes). The maps are made at the CAM stage's scales and flip when scored, as the CAM is.
The pseudo label is the argmax over the image's classes; with
``rectify`` a pixel whose nearest prototype is another class by more than ``rectify_margin`` is
relabelled (or ignored).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from wsss.methods.prototype.config import PrototypeConfig
from wsss.ops.label_reassign import allowed_classes, reassign_by_similarity
from wsss.ops.prototypes import similarity_maps


@dataclass
class Localization:
    """Per-class scores and prototype similarities (B, C, H, W), and the classes each image may hold."""

    scores: Tensor
    sims: Tensor
    allowed: Tensor


def localize(cams: Tensor, sims: Tensor, tags: Tensor, seen: Tensor, cfg: PrototypeConfig, has_background: bool,
             size: tuple[int, int]) -> Localization:
    """The localization maps at ``size`` from raw CAMs (B, K, h, w) of the K tag classes and the
    prototype similarities (B, C, h, w) of ``prototype_similarities``."""
    present = (tags > 0)[:, :, None, None]
    cams = F.relu(cams.detach().float()) * present
    cams = cams / cams.amax((2, 3), keepdim=True).clamp_min(1e-5)
    sims = sims.detach().float()
    class_seen = seen.any(1)[None, :, None, None]
    first = 1 if has_background else 0
    spread = stretch(sims)
    maps = cams * torch.where(class_seen[:, first:], spread[:, first:], torch.ones_like(cams))
    maps = maps / maps.amax((2, 3), keepdim=True).clamp_min(1e-5)
    if has_background:
        use_prototypes = class_seen[:, :1] & cfg.background_prototypes
        background = torch.where(use_prototypes, spread[:, :1], torch.full_like(sims[:, :1], cfg.bg_threshold))
        maps = torch.cat([background, maps], 1)
    resize = lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # noqa: E731
    return Localization(resize(maps), resize(sims), allowed_classes(tags, has_background))


def stretch(sims: Tensor) -> Tensor:
    """Each map (B, C, h, w) of cosines rescaled to [0, 1] between its lowest and highest pixel, so a
    class's similarity spans the image as its max-normalised CAM does."""
    low = sims.amin((2, 3), keepdim=True)
    return (sims - low) / (sims.amax((2, 3), keepdim=True) - low).clamp_min(1e-5)


def prototype_similarities(out: dict[str, Tensor], prototypes: Tensor) -> Tensor:
    """(B, C, h, w): each pixel embedding of a forward pass ``out`` against each class's nearest prototype."""
    return similarity_maps(out["embed"].detach().float(), prototypes)


def pseudo_labels(loc: Localization, seen: Tensor, cfg: PrototypeConfig, *, rectify: bool) -> tuple[Tensor, Tensor]:
    """(labels (B, H, W) long, confidence (B, H, W)): the argmax of the allowed classes' scores,
    rectified by the prototypes when ``rectify``. The confidence is the winner's share of the
    allowed classes' scores, so a constant background score can be confident too."""
    scores = loc.scores.clamp_min(0) * loc.allowed[:, :, None, None]
    best, labels = scores.masked_fill(~loc.allowed[:, :, None, None], -1.0).max(1)
    confidence = best / scores.sum(1).clamp_min(1e-5)
    if rectify:
        usable = loc.allowed & seen.any(1)[None]
        labels, _ = reassign_by_similarity(loc.sims, labels, usable, margin=cfg.rectify_margin, mode=cfg.rectify_mode)
    return labels, confidence
