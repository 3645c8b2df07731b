"""PSA step 3 (``train-aff``): AffinityNet learns pair affinities from the seed labels.

Seeds are cropped with the image, brought to the embedding stride (nearest), and turned into
background-positive, foreground-positive and negative pairs within the radius.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.constants import IGNORE

from wsss.data import SegDataset
from wsss.data.sources import LabelMaps
from wsss.engine.trainer import StepFn
from wsss.io import DataFileError
from wsss.methods.psa.config import AffConfig
from wsss.methods.psa.seeds import combine_seeds, scores_file
from wsss.ops.affinity import (affinity_from_features, affinity_labels, affinity_loss, full_precision,
                               neighbor_offsets, source_crop)
from wsss.stages.common import train_stage
from wsss.stages.context import StageContext

AFFINITY = "aff"  # checkpoints/aff.pt


def train_affinity(aff: AffConfig, ctx: StageContext) -> Path:
    """Train AffinityNet on the ``seeds`` stage's labels; writes ``checkpoints/aff.pt``."""
    seeds = ctx.outputs["seeds"]
    meta = ctx.fingerprint(model=ctx.cfg.model, aff=aff, seeds=seeds.meta, seed=ctx.runtime.seed)

    def build(dataset: SegDataset) -> tuple[nn.Module, StepFn]:
        net = ctx.create_model("affinity", dims=aff.dims, init_gain=aff.init_gain, freeze_bn=aff.freeze_bn,
                               frozen=aff.frozen)
        return net, AffinityStep(aff.radius, dataset.classes.has_background, crop=aff.pairs == "crop")

    pooled = ctx.cfg.seeds.labels_at_stride == "pooled"
    labels = PooledSeedScores(seeds.path, ctx.dataset().classes.num_classes) if pooled else LabelMaps(seeds.path)
    return train_stage(ctx, aff.train, build, out=ctx.paths.checkpoint(AFFINITY), meta=meta,
                       sources={"mask": labels})


class PooledSeedScores:
    """The seeds' refined scores as a training source that becomes a stride-``stride`` seed label.

    Read: ``la`` and ``ha`` (``<id>.scores.npz``) spread over every class, (2 x classes, H, W);
    cropped with the image; then ``finish`` average-pools them by the stride and combines the two
    argmaxes, as the authors' ``VOC12AffDataset`` does (IGNORE where no score is left: padding).
    """

    kind = "map"

    def __init__(self, folder: Path, num_classes: int, stride: int = 8) -> None:
        self.folder, self.num_classes, self.stride = Path(folder), num_classes, stride

    def __call__(self, image_id: str) -> np.ndarray:
        path = scores_file(self.folder, image_id)
        if not path.is_file():
            raise DataFileError(f"{path}: file not found; make the seeds with seeds.labels_at_stride=pooled")
        with np.load(path) as data:
            la, ha, values = data["la"], data["ha"], data["values"]
        spread = np.zeros((2, self.num_classes, *la.shape[1:]), np.float32)
        spread[0, values], spread[1, values] = la, ha
        return spread.reshape(2 * self.num_classes, *la.shape[1:])

    def finish(self, maps: Tensor) -> Tensor:
        """(2 x classes, S, S) scores -> (S / stride, S / stride) int64 seed label."""
        pooled = F.avg_pool2d(maps[None], self.stride)[0]
        low, high = pooled.chunk(2)
        seed = torch.from_numpy(combine_seeds(low.argmax(0).numpy(), high.argmax(0).numpy())).long()
        seed[pooled.amax(0) < 1e-5] = IGNORE
        return seed


class AffinityStep:
    """One training step: embeddings -> affinities -> PSA's three-term loss (``crop``: the authors' pairs)."""

    def __init__(self, radius: int, background: bool, crop: bool = False) -> None:
        self.offsets = neighbor_offsets(radius)
        self.radius, self.background, self.crop = radius, background, crop

    def __call__(self, net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        # affinities and their logs in fp32: under bf16 autocast 1 + 1e-5 rounds to 1, so
        # -log(1 + eps - a) is infinite for a pair whose affinity rounds to 1
        feats = full_precision(net(batch["image"]))
        seeds = F.interpolate(batch["mask"][:, None].float(), size=feats.shape[-2:], mode="nearest")[:, 0].long()
        labels = affinity_labels(seeds, self.offsets, background=self.background)
        if self.crop:  # the authors' pair set: sources away from the left, right and bottom borders
            crop = source_crop(*seeds.shape[-2:], self.radius, seeds.device)
            labels = tuple(mask & crop for mask in labels)
        loss, terms = affinity_loss(affinity_from_features(feats, self.offsets), *labels)
        return {"loss": loss, **terms}
