"""Stage ``train-cls``: the multi-label classifier whose CAMs seed every method."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor, nn

from wsss.config import ClsConfig, DataConfig, ModelConfig
from wsss.data import SegDataset
from wsss.engine.runtime import Runtime
from wsss.engine.trainer import StepFn
from wsss.models.cam_net import multilabel_loss
from wsss.stages.common import build_cam_net, fingerprint, train_stage


def classifier_path(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "cls.pt"


def classifier_meta(data: DataConfig, model: ModelConfig, cls: ClsConfig, seed: int) -> dict[str, Any]:
    return fingerprint(data=data, model=model, cls=cls, seed=seed)


def train_classifier(data: DataConfig, model: ModelConfig, cls: ClsConfig, runtime: Runtime, run_dir: Path,
                     *, resume: bool = False) -> Path:
    """Train on the image labels of ``data.train_split``; writes ``checkpoints/cls.pt``."""
    out = classifier_path(run_dir)
    meta = classifier_meta(data, model, cls, runtime.seed)

    def build(dataset: SegDataset) -> tuple[nn.Module, StepFn]:
        net = build_cam_net(model, dataset.classes.num_foreground, dropout=cls.dropout, freeze_bn=cls.freeze_bn)
        return net, _classification_step

    return train_stage(build, data, cls.train, stage="train-cls", out=out, meta=meta, runtime=runtime,
                       run_dir=run_dir, resume=resume, check=True)


def _classification_step(net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
    return {"loss": multilabel_loss(net(batch["image"]), batch["labels"])}
