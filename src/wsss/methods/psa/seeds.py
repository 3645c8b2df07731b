"""PSA step 2: confident seeds from CAMs, the labels AffinityNet learns from.

With a background class: the CAMs with a weak background ``(1 - max)^alpha_low`` are refined
(CRF) and their argmax marks confident foreground; with a strong background
``(1 - max)^alpha_high`` the argmax marks confident background; the rest is ignored (255).
Without a background class: the refined argmax class where the top CAM exceeds
``fg_threshold``, else ignored. Written at image size as palette PNGs.
"""
from __future__ import annotations

import numpy as np
import torch

from wsss.constants import IGNORE
from wsss.data import ClassSet
from wsss.data.transforms import to_uint8
from wsss.methods.psa.config import SeedConfig
from wsss.ops.crf import refine
from wsss.ops.random_walk import background_cam
from wsss.stages.artifacts import ArtifactDir
from wsss.data.sources import read_cams
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images

SEEDS = "seeds"  # seeds/<split>/


def make_seeds(cfg: SeedConfig, ctx: StageContext) -> ArtifactDir:
    """Write ``seeds/<split>/<id>.png`` from the ``cams`` stage's CAMs for every image; resumable."""
    cams = ctx.outputs["cams"]
    folder = ArtifactDir(ctx.paths.labels(SEEDS, ctx.split), ctx.fingerprint(cams=cams.meta, seeds=cfg), ".png")
    classes = ctx.dataset().classes

    def make_process() -> Process:
        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str]:
            cam, keys = read_cams(cams.file(image_id))
            return seed_label(to_uint8(image), cam, keys, classes, cfg)
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"seeds {ctx.split}")


def seed_label(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, classes: ClassSet,
               cfg: SeedConfig) -> tuple[np.ndarray, str]:
    """(seed label map (H, W) uint8 with 255 = unknown, name of the refinement that ran)."""
    values = np.array([classes.mask_value(int(k)) for k in keys], dtype=np.uint8)
    if not classes.has_background:
        return _seed_without_background(image, cams, values, cfg)
    low, method = _refined_argmax(image, cams, cfg.alpha_low, cfg)
    high, _ = _refined_argmax(image, cams, cfg.alpha_high, cfg)
    lookup = np.concatenate([[0], values]).astype(np.uint8)
    seed = np.where(low > 0, lookup[low], IGNORE).astype(np.uint8)
    seed[high == 0] = 0
    return seed, method


def _refined_argmax(image: np.ndarray, cams: np.ndarray, alpha: float, cfg: SeedConfig) -> tuple[np.ndarray, str]:
    scores = background_cam(torch.from_numpy(cams), alpha).numpy()
    probs, method = refine(image, scores / scores.sum(0, keepdims=True).clip(1e-8), cfg.refine, crf=cfg.crf_preset)
    return probs.argmax(0), method


def _seed_without_background(image: np.ndarray, cams: np.ndarray, values: np.ndarray,
                             cfg: SeedConfig) -> tuple[np.ndarray, str]:
    if len(values) == 0:
        return np.full(cams.shape[-2:], IGNORE, np.uint8), "none"
    probs, method = refine(image, cams / cams.sum(0, keepdims=True).clip(1e-8), cfg.refine, crf=cfg.crf_preset)
    seed = values[probs.argmax(0)]
    return np.where(cams.max(0) > cfg.fg_threshold, seed, IGNORE).astype(np.uint8), method
