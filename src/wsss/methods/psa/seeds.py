"""PSA step 2: confident seeds from CAMs, the labels AffinityNet learns from.

With a background class: the CAMs with a weak background ``(1 - max)^alpha_low`` are refined
(CRF) and their argmax marks confident foreground; with a strong background
``(1 - max)^alpha_high`` the argmax marks confident background; the rest is ignored (255).
Without a background class: the refined argmax class where the top CAM exceeds
``fg_threshold``, else ignored. With ``saliency: true`` only the seeds a salient-object map agrees
with are kept (foreground where salient, background where not). Written at image size as
palette PNGs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsss.config import ConfigError
from wsss.constants import IGNORE
from wsss.data import ClassSet
from wsss.data.sources import FloatMaps, read_cams
from wsss.data.transforms import to_uint8
from wsss.io import atomic_save_npz
from wsss.methods.psa.config import SeedConfig
from wsss.ops.crf import refine
from wsss.ops.random_walk import background_cam
from wsss.ops.saliency import agree_with_saliency
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images
from wsss.stages.saliency import SALIENCY

SEEDS = "seeds"  # seeds/<split>/


def make_seeds(cfg: SeedConfig, ctx: StageContext) -> ArtifactDir:
    """Write ``seeds/<split>/<id>.png`` from the ``cams`` stage's CAMs for every image; resumable.

    With ``labels_at_stride: pooled`` each image's refined weak/strong-background scores go to
    ``<id>.scores.npz`` beside it, first, so a written PNG always has its scores.
    """
    cams = ctx.outputs["cams"]
    saliency = ctx.outputs[SALIENCY] if cfg.saliency else None
    inputs = {"cams": cams.meta} | ({"saliency": saliency.meta} if saliency else {})
    folder = ArtifactDir(ctx.paths.labels(SEEDS, ctx.split), ctx.fingerprint(**inputs, seeds=cfg), ".png")
    classes = ctx.dataset().classes

    def make_process() -> Process:
        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str]:
            cam, keys = read_cams(cams.file(image_id))
            keep = scores_file(folder.path, image_id) if cfg.labels_at_stride == "pooled" else None
            seed, method = seed_label(to_uint8(image), cam, keys, classes, cfg, keep_scores=keep)
            if saliency is None:
                return seed, method
            salient = FloatMaps(saliency.path)(image_id)[0]
            return agree_with_saliency(seed, salient, cfg.saliency_threshold), f"{method}+saliency"
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"seeds {ctx.split}")


def check_seed_settings(cfg: Any, classes: ClassSet) -> None:
    """PSA's settings that need a background class, or each other, refused before any stage runs."""
    seeds = cfg.seeds
    if seeds.labels_at_stride == "pooled" and not classes.has_background:
        raise ConfigError("seeds.labels_at_stride=pooled needs a dataset with a background class "
                          "(the weak/strong background scores); use nearest")
    if seeds.saliency and not classes.has_background:
        raise ConfigError("seeds.saliency=true needs a dataset with a background class (saliency tells "
                          "objects from background); set it to false")
    if seeds.saliency and seeds.labels_at_stride == "pooled":
        raise ConfigError("seeds.saliency=true gates the seed labels, which labels_at_stride=pooled does not "
                          "use; set seeds.labels_at_stride=nearest or seeds.saliency=false")


def scores_file(folder: Path, image_id: str) -> Path:
    """``<id>.scores.npz``: ``la``, ``ha`` (K + 1, H, W) and ``values``, the mask value of each channel."""
    return folder / f"{image_id}.scores.npz"


def seed_label(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, classes: ClassSet, cfg: SeedConfig,
               keep_scores: Path | None = None) -> tuple[np.ndarray, str]:
    """(seed label map (H, W) uint8 with 255 = unknown, name of the refinement that ran).

    ``keep_scores``: also write the refined scores there (see ``scores_file``), atomically.
    """
    if not classes.has_background:
        values = np.array([classes.mask_value(int(k)) for k in keys], dtype=np.uint8)
        return _seed_without_background(image, cams, values, cfg)
    (low, high), method = seed_scores(image, cams, cfg)
    lookup = _lookup(keys, classes)
    if keep_scores is not None:
        atomic_save_npz(keep_scores, la=low.astype(np.float16), ha=high.astype(np.float16), values=lookup)
    return combine_seeds(lookup[low.argmax(0)], lookup[high.argmax(0)]), method


def seed_scores(image: np.ndarray, cams: np.ndarray, cfg: SeedConfig) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """Refined scores (K + 1, H, W), background first, with the weak (``alpha_low``) and the strong
    (``alpha_high``) background; the name of the refinement that ran."""
    low, method = _refined(image, cams, cfg.alpha_low, cfg)
    high, _ = _refined(image, cams, cfg.alpha_high, cfg)
    return (low, high), method


def combine_seeds(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The seed (uint8, IGNORE where unsure) from the label maps (0 = background) of the two argmaxes:
    foreground where the weak background loses, background where the strong background wins."""
    seed = np.where(low > 0, low, IGNORE).astype(np.uint8)
    seed[high == 0] = 0
    return seed


def _lookup(keys: np.ndarray, classes: ClassSet) -> np.ndarray:
    """Mask value of each score channel: background, then the classes of ``keys``."""
    return np.array([0] + [classes.mask_value(int(k)) for k in keys], dtype=np.uint8)


def _refined(image: np.ndarray, cams: np.ndarray, alpha: float, cfg: SeedConfig) -> tuple[np.ndarray, str]:
    scores = background_cam(torch.from_numpy(cams), alpha).numpy()
    return refine(image, scores / scores.sum(0, keepdims=True).clip(1e-8), cfg.refine, crf=cfg.crf_preset)


def _seed_without_background(image: np.ndarray, cams: np.ndarray, values: np.ndarray,
                             cfg: SeedConfig) -> tuple[np.ndarray, str]:
    if len(values) == 0:
        return np.full(cams.shape[-2:], IGNORE, np.uint8), "none"
    probs, method = refine(image, cams / cams.sum(0, keepdims=True).clip(1e-8), cfg.refine, crf=cfg.crf_preset)
    seed = values[probs.argmax(0)]
    return np.where(cams.max(0) > cfg.fg_threshold, seed, IGNORE).astype(np.uint8), method
