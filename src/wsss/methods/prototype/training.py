"""Stage ``train-prototype``: the prototype method's single training run (a reading of the paper).

Every step trains the classification branch. After ``warmup_epochs`` each step also localizes
(``localization.localize``) with the current prototypes, makes pseudo labels (rectified with
``rectify``), trains the segmentation branch on them (cross entropy) and the embeddings with the
prototype contrastive loss, then moves the prototypes towards the confident pixels' embeddings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from wsss.constants import IGNORE
from wsss.data import ClassSet
from wsss.engine.trainer import StepFn
from wsss.methods.prototype.config import PrototypeConfig
from wsss.methods.prototype.localization import localize, prototype_similarities, pseudo_labels
from wsss.models.cam_net import multilabel_loss
from wsss.ops.prototypes import contrastive_loss
from wsss.stages.context import StageContext
from wsss.stages.one_network import train_one_network, with_every_output
from wsss.stages.segmentation import masked_cross_entropy

NETWORK = "prototype"  # checkpoints/prototype.pt


def train_prototype(cfg: PrototypeConfig, ctx: StageContext) -> Path:
    """Train the network once; writes ``checkpoints/prototype.pt`` (prototypes included)."""
    return train_one_network(cfg, ctx, kind=NETWORK, section="prototype", make_step=make_step,
                             network_args=lambda c: {"prototypes": c.prototypes, "head_channels": c.head_channels,
                                                     "embed_dims": c.embed_dims})


def make_step(cfg: PrototypeConfig, classes: ClassSet) -> StepFn:
    """The training step: classification, then (after the warm-up) segmentation, contrast, prototype update."""

    def step(net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        model = getattr(net, "module", net)  # the network inside DistributedDataParallel
        out = net(batch["image"])
        tags = batch["labels"]
        cls = multilabel_loss(out["logits"].float(), tags)
        if int(batch["epoch"][0]) < cfg.warmup_epochs:
            return {"loss": with_every_output(cls, out), "cls": cls.detach()}
        size = tuple(s // cfg.mask_stride for s in batch["image"].shape[-2:])
        prototypes = model.prototypes.clone()  # constants of this step's losses; updated in place below
        loc = localize(out["cams"], prototype_similarities(out, prototypes), tags, model.seen, cfg,
                       classes.has_background, size)
        labels, confidence = pseudo_labels(loc, model.seen, cfg, rectify=cfg.rectify)
        grid = out["embed"].shape[-2:]
        small = F.interpolate(labels[:, None].float(), size=grid, mode="nearest")[:, 0].long()
        sure = F.interpolate(confidence[:, None], size=grid, mode="nearest")[:, 0] >= cfg.confident
        embed = out["embed"].float()
        terms = {"cls": cls, "ce": masked_cross_entropy(out["seg"], labels),
                 "contrast": cfg.contrast_weight * contrastive_loss(embed, small, prototypes, cfg.temperature)}
        keep = sure & (small != IGNORE)
        model.update_prototypes(embed.detach().permute(0, 2, 3, 1)[keep], small[keep], cfg.momentum)
        return {"loss": with_every_output(sum(terms.values()), out), **{k: v.detach() for k, v in terms.items()},
                "confident": keep.float().mean()}

    return step
