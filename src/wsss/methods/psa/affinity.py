"""PSA step 3 (``train-aff``): AffinityNet learns pair affinities from the seed labels.

Seeds are cropped with the image, brought to the embedding stride (nearest), and turned into
background-positive, foreground-positive and negative pairs within the radius.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.config import AffConfig, DataConfig, ModelConfig
from wsss.engine.runtime import Runtime
from wsss.models.affinity_net import AffinityNet
from wsss.ops.affinity import affinity_from_features, affinity_labels, affinity_loss, neighbor_offsets
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.common import backbone_from, fingerprint, train_stage


def aff_path(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "aff.pt"


def build_affinity_net(model: ModelConfig, aff: AffConfig, pretrained: bool | None = None) -> AffinityNet:
    return AffinityNet(backbone_from(model, pretrained), aff.dims)


def affinity_net_from(model: ModelConfig, aff: AffConfig, state: dict[str, Any], device: torch.device) -> AffinityNet:
    """The trained AffinityNet of a loaded ``aff.pt`` checkpoint, on ``device``, in eval mode."""
    net = build_affinity_net(model, aff, pretrained=False)
    net.load_state_dict(state["model"])
    return net.to(device).eval()


def train_affinity(data: DataConfig, model: ModelConfig, aff: AffConfig, runtime: Runtime, run_dir: Path,
                   seeds: ArtifactDir, *, resume: bool = False) -> Path:
    """Train AffinityNet on the seeds of the training split; writes ``checkpoints/aff.pt``."""
    out = aff_path(run_dir)
    meta = fingerprint(data=data, model=model, aff=aff, seeds=seeds.meta, seed=runtime.seed)
    return train_stage(
        lambda dataset: (build_affinity_net(model, aff), AffinityStep(aff.radius, dataset.classes.has_background)),
        data, aff.train, stage="train-aff", out=out, meta=meta, runtime=runtime, run_dir=run_dir, resume=resume,
        masks=seeds.path)


class AffinityStep:
    """One training step: embeddings -> affinities -> PSA's three-term loss."""

    def __init__(self, radius: int, background: bool) -> None:
        self.offsets = neighbor_offsets(radius)
        self.background = background

    def __call__(self, net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        feats = net(batch["image"])
        seeds = F.interpolate(batch["mask"][:, None].float(), size=feats.shape[-2:], mode="nearest")[:, 0].long()
        labels = affinity_labels(seeds, self.offsets, background=self.background)
        loss, terms = affinity_loss(affinity_from_features(feats, self.offsets), *labels)
        return {"loss": loss, **terms}
