"""Training of a method whose one network does everything (AA&LR, the prototype method).

Such a network has a backbone, a ``classifier`` (its CAMs) and heads of its own; it starts from
ImageNet weights, or (``init: classifier``) from the run's classifier stage. Its fingerprint holds
every setting of the method's section but the ``not_fingerprinted`` ones (its prediction's), so
predicting again at other scales never retrains it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from wsss.config import fingerprint_dict
from wsss.data import ClassSet, SegDataset
from wsss.engine.checkpoint import load_checkpoint
from wsss.engine.trainer import StepFn
from wsss.stages.cams import CLASSIFIER
from wsss.stages.common import train_stage
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.segmentation import predict_checkpoint


def train_one_network(cfg: Any, ctx: StageContext, *, kind: str, section: str,
                      network_args: Callable[[Any], dict[str, Any]],
                      make_step: Callable[[Any, ClassSet], StepFn]) -> Path:
    """Train network ``kind`` (``models.factory``) once with ``make_step(cfg, classes)``; writes
    ``checkpoints/<kind>.pt``. ``cfg`` is the method's section (with ``train`` and ``init``)."""
    start = load_checkpoint(ctx.paths.checkpoint(CLASSIFIER)) if cfg.init == "classifier" else None
    settings = {key: value for key, value in fingerprint_dict(cfg).items() if key != "train"}  # train: its own key
    meta = ctx.fingerprint(model=ctx.cfg.model, train=cfg.train, **{section: settings}, seed=ctx.runtime.seed,
                           start=start["meta"] if start else None)

    def build(dataset: SegDataset) -> tuple[nn.Module, StepFn]:
        classes = dataset.classes
        net = ctx.create_model(kind, num_classes=classes.num_classes, num_tags=classes.num_foreground,
                               **network_args(cfg))
        if start is not None:
            net.start_from_classifier(start["model"])
        return net, make_step(cfg, classes)

    return train_stage(ctx, cfg.train, build, out=ctx.paths.checkpoint(kind), meta=meta)


def predict_one_network(cfg: Any, ctx: StageContext, *, kind: str) -> list[ArtifactDir]:
    """The network's segmentation branch (output ``seg``) on the split, single- and multi-scale + flip,
    at the section's ``scales``, refined by its ``predict_refine``."""
    return predict_checkpoint(ctx, kind, scales=cfg.scales, refine=cfg.predict_refine,
                              logits=lambda net, x: net(x)["seg"])


def with_every_output(loss: Tensor, out: dict[str, Tensor]) -> Tensor:
    """``loss`` plus zero times every output, so that in a step that uses only some heads (a
    warm-up) every parameter still gets a gradient: DistributedDataParallel requires it."""
    return loss + sum(value.float().sum() for value in out.values()) * 0
