"""PSA step 3 (``train-aff``): AffinityNet learns pair affinities from the seed labels.

Seeds are cropped with the image, brought to the embedding stride (nearest), and turned into
background-positive, foreground-positive and negative pairs within the radius.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from wsss.data import SegDataset
from wsss.data.sources import LabelMaps
from wsss.engine.trainer import StepFn
from wsss.methods.psa.config import AffConfig
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

    return train_stage(ctx, aff.train, build, out=ctx.paths.checkpoint(AFFINITY), meta=meta,
                       sources={"mask": LabelMaps(seeds.path)})


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
