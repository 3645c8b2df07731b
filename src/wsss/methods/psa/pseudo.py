"""PSA step 4 (``pseudo``): random walk of the CAMs on AffinityNet's affinities.

Per image: embeddings at stride 8 -> affinities within the radius; CAMs average-pooled to
that grid, background ``(1 - max)^alpha`` prepended (datasets with a background class);
``t`` steps of ``T = D^-1 A^beta``; bilinear upsampling; argmax -> pseudo label PNG. With
``pseudo.background: threshold`` only the CAMs walk, and the background is a constant score
beside the walked maps divided by their maxima (``label_scores``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from wsss.constants import IGNORE
from wsss.data import ClassSet
from wsss.data.sources import read_cams
from wsss.data.transforms import IMAGE_PAD, to_uint8
from wsss.engine.checkpoint import load_checkpoint
from wsss.methods.psa.affinity import AFFINITY
from wsss.methods.psa.config import PseudoConfig
from wsss.models.affinity_net import AffinityNet
from wsss.models.factory import model_from_checkpoint
from wsss.ops.affinity import full_precision, neighbor_offsets, source_crop
from wsss.ops.crf import refine
from wsss.ops.random_walk import background_cam, random_walk
from wsss.stages.artifacts import ArtifactDir
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
    """Turns one image and its CAMs into a pseudo label by the random walk.

    With ``pad_to`` > 1 the image (with its mean colour, zero after normalisation) and the CAMs
    (with 0) are padded at the right and bottom to a multiple of it, walked, and the result
    cropped back, as the authors' ``infer_aff.py`` does with 8.
    """

    def __init__(self, net: AffinityNet, cfg: PseudoConfig, classes: ClassSet) -> None:
        self.net, self.cfg, self.classes = net, cfg, classes
        self.offsets = neighbor_offsets(cfg.radius)

    def __call__(self, image: torch.Tensor, cams: torch.Tensor, keys: np.ndarray) -> tuple[np.ndarray, str]:
        """image (3, H, W) in [0, 1]; cams (K, H, W) normalised -> (label (H, W) uint8, refinement)."""
        size = tuple(image.shape[-2:])
        probs = class_probabilities(self.label_scores(self.to_image(self.walk(image, cams), size))).cpu().numpy()
        method = "none"
        if self.cfg.refine != "none":
            probs, method = refine(to_uint8(image), probs, self.cfg.refine)
        lookup = self.lookup(keys)
        if len(lookup) == 0:
            return np.full(size, IGNORE, np.uint8), method
        return lookup[probs.argmax(0)], method

    def walk(self, image: torch.Tensor, cams: torch.Tensor) -> torch.Tensor:
        """The walked maps (C, h, w) on AffinityNet's grid: background first (with a background class)."""
        aff, grid = self.prepare(image, cams, [self.cfg.alpha])
        return random_walk(grid, aff, self.offsets, beta=self.cfg.beta, steps=self.cfg.steps)

    @property
    def walks_background(self) -> bool:
        """Whether a background map walks beside the CAMs (``background: power`` with a background class)."""
        return self.classes.has_background and self.cfg.background == "power"

    def label_scores(self, walked: torch.Tensor) -> torch.Tensor:
        """Walked maps (C, H, W) -> scores whose argmax over channels is the label (``lookup``'s order).

        ``background: threshold``: each class map divided by its maximum, behind a constant
        ``bg_threshold`` channel; otherwise the walked maps as they are.
        """
        if not self.classes.has_background or self.walks_background:
            return walked
        peaks = walked.flatten(1).amax(1).clamp_min(1e-8)[:, None, None]
        return torch.cat([walked.new_full((1, *walked.shape[1:]), self.cfg.bg_threshold), walked / peaks])

    def prepare(self, image: torch.Tensor, cams: torch.Tensor,
                alphas: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
        """AffinityNet's half-neighbourhood affinities (P, h, w) and the maps to walk on that grid:
        one background ``(1 - max)^alpha`` per alpha (``walks_background``), then the CAMs."""
        padded = pad_bottom_right(cams, self.cfg.pad_to)
        image = pad_bottom_right(image - _MEAN.to(image), self.cfg.pad_to) + _MEAN.to(image)
        aff = full_precision(self.net.affinities(image[None], self.offsets)[0])
        if self.cfg.pairs == "crop":  # a pair of affinity 0 has weight 0^beta: it leaves the graph
            aff = aff * source_crop(*aff.shape[-2:], self.cfg.radius, aff.device)
        grid = F.adaptive_avg_pool2d(padded.to(aff), aff.shape[-2:])
        if not self.walks_background:
            return aff, grid
        return aff, torch.cat([self._background(cams, grid, alpha) for alpha in alphas] + [grid])

    def _background(self, cams: torch.Tensor, grid: torch.Tensor, alpha: float) -> torch.Tensor:
        """(1, h, w): from the pooled CAMs (``bg_at: grid``) or at image size, padded with 0, then pooled."""
        if self.cfg.bg_at == "image":
            full = pad_bottom_right(background_cam(cams.to(grid), alpha)[:1], self.cfg.pad_to)
            return F.adaptive_avg_pool2d(full, grid.shape[-2:])
        return background_cam(grid, alpha)[:1]

    def to_image(self, walked: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Walked maps (C, h, w) -> scores (C, H, W) at the image size (upsampled to the padded size, cropped)."""
        padded = [-(-n // self.cfg.pad_to) * self.cfg.pad_to for n in size]
        upsampled = F.interpolate(walked[None].float(), size=padded, mode="bilinear", align_corners=False)[0]
        return upsampled[:, :size[0], :size[1]]

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Mask value of each walked channel: background first (when the dataset has one), then ``keys``."""
        values = [self.classes.mask_value(int(k)) for k in keys]
        return np.array(([0] if self.classes.has_background else []) + values, dtype=np.uint8)


_MEAN = torch.tensor(IMAGE_PAD).view(3, 1, 1)


def pad_bottom_right(maps: torch.Tensor, multiple: int) -> torch.Tensor:
    """(..., H, W) padded with 0 at the bottom and right to multiples of ``multiple``."""
    h, w = maps.shape[-2:]
    return F.pad(maps, (0, -w % multiple, 0, -h % multiple))


def class_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Non-negative scores (C, H, W) normalised to sum to 1 over the classes at each pixel."""
    return scores / scores.sum(0, keepdim=True).clamp_min(1e-8)
