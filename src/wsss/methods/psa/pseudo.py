"""PSA step 4 (``pseudo``): random walk of the CAMs on AffinityNet's affinities.

Per image: embeddings at stride 8 -> affinities within the radius; CAMs average-pooled to
that grid, background ``(1 - max)^alpha`` prepended (datasets with a background class);
``t`` steps of ``T = D^-1 A^beta``; bilinear upsampling; argmax -> pseudo label PNG.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from wsss.constants import IGNORE
from wsss.data import ClassSet
from wsss.data.transforms import to_uint8
from wsss.engine.checkpoint import load_checkpoint
from wsss.methods.psa.affinity import AFFINITY
from wsss.methods.psa.config import PseudoConfig
from wsss.models.affinity_net import AffinityNet
from wsss.models.factory import model_from_checkpoint
from wsss.ops.affinity import full_precision, neighbor_offsets, source_crop
from wsss.ops.crf import refine
from wsss.ops.random_walk import background_cam, random_walk
from wsss.stages.artifacts import ArtifactDir
from wsss.data.sources import read_cams
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images

PSEUDO = "pseudo"  # pseudo/<split>/


def make_pseudo_labels(cfg: PseudoConfig, ctx: StageContext) -> ArtifactDir:
    """Write ``pseudo/<split>/<id>.png`` by walking the ``cams`` stage's CAMs on ``checkpoints/aff.pt``."""
    state, cams = load_checkpoint(ctx.paths.checkpoint(AFFINITY)), ctx.outputs["cams"]
    meta = ctx.fingerprint(affinity=state["meta"], cams=cams.meta, pseudo=cfg)
    folder = ArtifactDir(ctx.paths.labels(PSEUDO, ctx.split), meta, ".png")

    def make_process() -> Process:
        walker = RandomWalker(affinity_net(state, ctx.runtime.device), cfg, ctx.dataset().classes)

        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str]:
            cam, keys = read_cams(cams.file(image_id))
            return walker(image.to(ctx.runtime.device), torch.from_numpy(cam), keys)
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"pseudo {ctx.split}")


def affinity_net(state: dict, device: torch.device) -> AffinityNet:
    """The trained AffinityNet of a loaded ``aff.pt`` checkpoint, on ``device``, in eval mode."""
    return model_from_checkpoint(state).to(device).eval()


class RandomWalker:
    """Turns one image and its CAMs into a pseudo label by the random walk."""

    def __init__(self, net: AffinityNet, cfg: PseudoConfig, classes: ClassSet) -> None:
        self.net, self.cfg, self.classes = net, cfg, classes
        self.offsets = neighbor_offsets(cfg.radius)

    def __call__(self, image: torch.Tensor, cams: torch.Tensor, keys: np.ndarray) -> tuple[np.ndarray, str]:
        """image (3, H, W) in [0, 1]; cams (K, H, W) normalised -> (label (H, W) uint8, refinement)."""
        probs = upsample_scores(self.walk(image, cams), image.shape[-2:]).cpu().numpy()
        method = "none"
        if self.cfg.refine != "none":
            probs, method = refine(to_uint8(image), probs, self.cfg.refine)
        lookup = self.lookup(keys)
        if len(lookup) == 0:
            return np.full(tuple(image.shape[-2:]), IGNORE, np.uint8), method
        return lookup[probs.argmax(0)], method

    def walk(self, image: torch.Tensor, cams: torch.Tensor) -> torch.Tensor:
        """The walked maps (C, h, w) on AffinityNet's grid: background first (with a background class)."""
        aff, grid = self.affinity_grid(image, cams)
        if self.classes.has_background:
            grid = torch.cat([self.background(cams, grid, self.cfg.alpha), grid])
        return random_walk(grid, aff, self.offsets, beta=self.cfg.beta, steps=self.cfg.steps)

    def affinity_grid(self, image: torch.Tensor, cams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """AffinityNet's half-neighbourhood affinities (P, h, w) and the CAMs pooled to that grid."""
        aff = full_precision(self.net.affinities(image[None], self.offsets)[0])
        if self.cfg.pairs == "crop":  # a pair of affinity 0 has weight 0^beta: it leaves the graph
            aff = aff * source_crop(*aff.shape[-2:], self.cfg.radius, aff.device)
        return aff, F.adaptive_avg_pool2d(cams.to(aff), aff.shape[-2:])

    def background(self, cams: torch.Tensor, grid: torch.Tensor, alpha: float) -> torch.Tensor:
        """The (1, h, w) background ``(1 - max)^alpha`` on the walk's grid, from the pooled CAMs
        (``bg_at: grid``) or from the image-size CAMs, then pooled (``bg_at: image``)."""
        if self.cfg.bg_at == "image":
            return F.adaptive_avg_pool2d(background_cam(cams.to(grid), alpha)[:1], grid.shape[-2:])
        return background_cam(grid, alpha)[:1]

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
