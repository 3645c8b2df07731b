"""Stage ``train-cls``: the multi-label classifier whose CAMs seed every method."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor, nn

from wsss.config import ClsConfig
from wsss.data import SegDataset
from wsss.engine.trainer import StepFn
from wsss.models.cam_net import multilabel_loss
from wsss.stages.cams import CLASSIFIER
from wsss.stages.common import train_stage
from wsss.stages.context import StageContext


def train_classifier(cls: ClsConfig, ctx: StageContext) -> Path:
    """Train on the image labels of the stage's split (every file checked first); writes ``checkpoints/cls.pt``."""
    meta = ctx.fingerprint(model=ctx.cfg.model, cls=cls, seed=ctx.runtime.seed)

    def build(dataset: SegDataset) -> tuple[nn.Module, StepFn]:
        net = ctx.create_model("cam", num_classes=dataset.classes.num_foreground, dropout=cls.dropout,
                               freeze_bn=cls.freeze_bn, frozen=cls.frozen)
        return net, _classification_step

    return train_stage(ctx, cls.train, build, out=ctx.paths.checkpoint(CLASSIFIER), meta=meta, check=True)


def _classification_step(net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
    return {"loss": multilabel_loss(net(batch["image"]), batch["labels"])}
