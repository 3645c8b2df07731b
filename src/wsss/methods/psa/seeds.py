"""PSA step 2: confident seeds from CAMs, the labels AffinityNet learns from.

With a background class: the CAMs with a weak background ``(1 - max)^alpha_low`` are refined
(CRF) and their argmax marks confident foreground; with a strong background
``(1 - max)^alpha_high`` the argmax marks confident background; the rest is ignored (255).
Without a background class: the refined argmax class where the top CAM exceeds
``fg_threshold``, else ignored. Written at image size as palette PNGs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from wsss.config import SeedConfig
from wsss.data import ClassSet, SegDataset
from wsss.progress import progress
from wsss.engine.runtime import Runtime
from wsss.io import read_image, write_label_png
from wsss.ops.crf import refine
from wsss.ops.random_walk import background_cam
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.cams import load_cams
from wsss.stages.common import fingerprint

IGNORE = 255


def make_seeds(dataset: SegDataset, cfg: SeedConfig, runtime: Runtime, run_dir: Path, cams: ArtifactDir,
               split: str) -> ArtifactDir:
    """Write ``seeds/<split>/<id>.png`` for every image of the split; resumable."""
    folder = ArtifactDir(Path(run_dir) / "seeds" / split, fingerprint(cams=cams.meta, seeds=cfg), ".png")
    if folder.is_complete(dataset.ids):
        return folder
    used = set()
    for image_id in progress(folder.start(dataset.ids, runtime), f"seeds {split}", runtime.progress):
        cam, keys = load_cams(cams.file(image_id))
        image = read_image(dataset.image_path(image_id))
        seed, method = seed_label(image, cam, keys, dataset.classes, cfg)
        used.add(method)
        write_label_png(folder.file(image_id), seed, dataset.classes.palette())
    folder.complete(dataset.ids, runtime, refinement=sorted(used))
    return folder


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
