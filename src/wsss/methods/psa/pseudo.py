"""PSA step 4 (``pseudo``): random walk of the CAMs on AffinityNet's affinities.

Per image: embeddings at stride 8 -> affinities within the radius; CAMs average-pooled to
that grid, background ``(1 - max)^alpha`` prepended (datasets with a background class);
``t`` steps of ``T = D^-1 A^beta``; bilinear upsampling; argmax -> pseudo label PNG.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wsss.config import AffConfig, DataConfig, ModelConfig, PseudoConfig
from wsss.data import ClassSet
from wsss.engine.checkpoint import load_checkpoint
from wsss.progress import progress
from wsss.engine.runtime import Runtime
from wsss.data.transforms import to_uint8
from wsss.io import write_label_png
from wsss.models.affinity_net import AffinityNet
from wsss.ops.affinity import neighbor_offsets
from wsss.ops.crf import refine
from wsss.ops.random_walk import background_cam, random_walk
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.cams import image_loader, load_cams
from wsss.stages.common import fingerprint, open_dataset
from wsss.methods.psa.affinity import aff_path, affinity_net_from


def make_pseudo_labels(data: DataConfig, model: ModelConfig, aff: AffConfig, cfg: PseudoConfig, runtime: Runtime,
                       run_dir: Path, cams: ArtifactDir, split: str) -> ArtifactDir:
    """Write ``pseudo/<split>/<id>.png`` for every image of the split; resumable."""
    state = load_checkpoint(aff_path(run_dir))
    dataset = open_dataset(data, split)
    folder = ArtifactDir(Path(run_dir) / "pseudo" / split,
                         fingerprint(affinity=state["meta"], cams=cams.meta, pseudo=cfg), ".png")
    if folder.is_complete(dataset.ids):
        return folder
    ids = folder.start(dataset.ids, runtime)
    walker = RandomWalker(affinity_net_from(model, aff, state, runtime.device), cfg, dataset.classes)
    used = set()
    with torch.inference_mode():
        for image_id, image, _ in progress(image_loader(dataset, ids, runtime.workers), f"pseudo {split}",
                                           runtime.progress):
            cam, keys = load_cams(cams.file(image_id))
            label, method = walker(image.to(runtime.device), torch.from_numpy(cam), keys)
            used.add(method)
            write_label_png(folder.file(image_id), label, dataset.classes.palette())
    folder.complete(dataset.ids, runtime, refinement=sorted(used))
    return folder


class RandomWalker:
    """Turns one image and its CAMs into a pseudo label by the random walk."""

    def __init__(self, net: AffinityNet, cfg: PseudoConfig, classes: ClassSet) -> None:
        self.net, self.cfg, self.classes = net, cfg, classes
        self.offsets = neighbor_offsets(cfg.radius)

    def __call__(self, image: torch.Tensor, cams: torch.Tensor, keys: np.ndarray) -> tuple[np.ndarray, str]:
        """image (3, H, W) in [0, 1]; cams (K, H, W) normalised -> (label (H, W) uint8, refinement)."""
        aff, grid = self.affinity_grid(image, cams)
        if self.classes.has_background:
            grid = background_cam(grid, self.cfg.alpha)
        walked = random_walk(grid, aff, self.offsets, beta=self.cfg.beta, steps=self.cfg.steps)
        probs = upsample_scores(walked, image.shape[-2:]).cpu().numpy()
        method = "none"
        if self.cfg.refine != "none":
            probs, method = refine(to_uint8(image), probs, self.cfg.refine)
        lookup = self.lookup(keys)
        if len(lookup) == 0:
            return np.full(tuple(image.shape[-2:]), 255, np.uint8), method
        return lookup[probs.argmax(0)], method

    def affinity_grid(self, image: torch.Tensor, cams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """AffinityNet's half-neighbourhood affinities (P, h, w) and the CAMs pooled to that grid."""
        aff = self.net.affinities(image[None], self.offsets)[0].float()
        return aff, F.adaptive_avg_pool2d(cams.to(aff), aff.shape[-2:])

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Mask value of each walked channel: background first (when the dataset has one), then ``keys``."""
        values = [self.classes.mask_value(int(k)) for k in keys]
        return np.array(([0] if self.classes.has_background else []) + values, dtype=np.uint8)


def upsample_scores(walked: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Walked maps (C, h, w) -> per-pixel class probabilities (C, H, W) at the image size."""
    return class_probabilities(F.interpolate(walked[None].float(), size=tuple(size), mode="bilinear",
                                             align_corners=False)[0])


def class_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Non-negative scores (C, H, W) normalised to sum to 1 over the classes at each pixel."""
    return scores / scores.sum(0, keepdim=True).clamp_min(1e-8)
