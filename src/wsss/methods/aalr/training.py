"""Stage ``train-aalr``: AA&LR's single training run.

Every step trains the classification branch (multi-label soft margin). After ``warmup_epochs``
the segmentation branch joins, on masks made on the fly from the same forward pass's CAMs
(``masks.online_masks``): cross entropy, plus the adaptive affinity loss
(``wsss.ops.adaptive_affinity``, the authors' code), plus the label-reassign step and its
embedding loss (``wsss.ops.label_reassign``, a reading of the paper: no code was released).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.data import ClassSet
from wsss.engine.trainer import StepFn
from wsss.methods.aalr.config import AALRConfig
from wsss.methods.aalr.masks import online_masks
from wsss.models.cam_net import multilabel_loss
from wsss.ops.adaptive_affinity import adaptive_affinity_loss
from wsss.ops.label_reassign import allowed_classes, centroid_loss, class_centroids, reassign_labels
from wsss.stages.context import StageContext
from wsss.stages.one_network import train_one_network, with_every_output
from wsss.stages.segmentation import masked_cross_entropy

NETWORK = "aalr"  # checkpoints/aalr.pt


def train_aalr(cfg: AALRConfig, ctx: StageContext) -> Path:
    """Train the network once; writes ``checkpoints/aalr.pt``."""
    return train_one_network(cfg, ctx, kind=NETWORK, section="aalr", make_step=make_step,
                             network_args=lambda c: {"head_channels": c.head_channels, "embed_dims": c.embed_dims})


def make_step(cfg: AALRConfig, classes: ClassSet) -> StepFn:
    """The training step: classification, then (after the warm-up) the segmentation losses."""
    bg_threshold = cfg.bg_threshold if classes.has_background else None

    def step(net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        out = net(batch["image"])
        tags = batch["labels"]
        cls = multilabel_loss(out["logits"].float(), tags)
        if int(batch["epoch"][0]) < cfg.warmup_epochs:
            return {"loss": with_every_output(cls, out), "cls": cls.detach()}
        masks, confidence, _ = online_masks(out["cams"], tags, batch["image"], bg_threshold=bg_threshold,
                                            stride=cfg.mask_stride, method=cfg.refine)
        grid = out["seg"].shape[-2:]
        labels, weights = _nearest(masks, grid), _nearest(confidence, grid)
        terms = {"cls": cls}
        if cfg.reassign:
            embed = out["embed"].float()
            centroids, found = class_centroids(embed.detach(), labels, weights >= cfg.confident, classes.num_classes)
            allowed = allowed_classes(tags, classes.has_background)
            labels, changed = reassign_labels(embed.detach(), labels, allowed, centroids, found,
                                              margin=cfg.reassign_margin, mode=cfg.reassign_mode)
            masks = torch.where(_nearest(changed, masks.shape[-2:]), _nearest(labels, masks.shape[-2:]), masks)
            terms["embed"] = cfg.embed_weight * centroid_loss(embed, labels, centroids, found)
            terms["reassigned"] = changed.float().mean()
        terms["ce"] = masked_cross_entropy(out["seg"], masks)
        if cfg.affinity_weight:  # on the masks' grid: the logits upsampled as the cross entropy sees them
            logits = F.interpolate(out["seg"].float(), size=masks.shape[-2:], mode="bilinear", align_corners=False)
            terms["aa"] = cfg.affinity_weight * adaptive_affinity_loss(
                F.softmax(logits, 1), masks, confidence, num_classes=classes.num_classes,
                distance=cfg.affinity_distance, margin=cfg.affinity_margin,
                background=0 if classes.has_background else None)
        loss = with_every_output(sum(value for key, value in terms.items() if key != "reassigned"), out)
        return {"loss": loss, **{key: value.detach() for key, value in terms.items()}}

    return step


def _nearest(maps: Tensor, size: torch.Size) -> Tensor:
    """(B, H, W) label or confidence maps resized by nearest neighbour, keeping their dtype."""
    if maps.shape[-2:] == size:
        return maps
    return F.interpolate(maps[:, None].float(), size=size, mode="nearest")[:, 0].to(maps.dtype)
