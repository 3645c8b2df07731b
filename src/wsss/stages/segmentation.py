"""Stages ``train-seg`` and ``predict``: the segmentation network a method may end with.

It is trained on a folder of label PNGs (255 = ignore) with a step the method may replace
(default: cross entropy), and any trained network predicts through a probability function,
single-scale or multi-scale + flip, optionally refined (CRF or PAR).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.config import ConfigError, ModelConfig, TrainConfig, not_fingerprinted
from wsss.constants import IGNORE
from wsss.data.sources import LabelMaps, Source
from wsss.data.transforms import to_uint8
from wsss.engine.checkpoint import load_checkpoint
from wsss.engine.trainer import StepFn
from wsss.models.backbones import available_backbones, weights_file
from wsss.models.factory import model_from_checkpoint
from wsss.ops.cam import multiscale_maps
from wsss.ops.crf import refine as refine_probs
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.common import train_stage
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images

SEGMENTATION = "seg"  # checkpoints/seg.pt
# The CRF preset of a prediction's refinement: DeepLab's post-processing kernels. PSA's preset
# ("psa", for CAMs) smooths a segmentation network's output too hard: on msrc test it took PSA's
# multi-scale prediction from 48.1 to 44.6, where DeepLab's gave 48.3.
PREDICTION_CRF = "deeplab"
# (B, 3, H, W) images in [0, 1] -> (B, C, h, w) class probabilities at any resolution
ProbabilityFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class SegConfig:
    """The segmentation network trained on pseudo labels, and its prediction."""

    # 3e-3 with the head at 10x: on the demo's short schedule ASPP reached 73.9 val mIoU on
    # ground-truth masks against 62.2 for LargeFOV (50.7 at 1e-3, 58.9 for ASPP at 6e-3), measured
    # before ASPP got its normalised projection. With it, 12 epochs train stably on the demo's
    # pseudo labels (val 66.4 / 72.8 ss / ms, one thread); without it the loss swung to 10-20.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=0.003, epochs=12))
    head: str = "aspp"  # aspp (DeepLab-v2 behind a normalised projection) | largefov (DeepLab-v1, PSA's)
    head_channels: int = 256  # LargeFOV's width (the paper's 1024), ASPP's projection
    # The segmentation network's own backbone, e.g. a larger one than the CAM networks' (PSA's
    # DeepLab ran on ResNet-101 or ResNet-38), and its local weight file when its ImageNet weights
    # do not ship in a package; None: model.backbone with model.weights.
    backbone: str | None = None
    weights: str | None = None
    scales: tuple[float, ...] = not_fingerprinted((1.0, 0.5, 1.5))  # multi-scale + flip prediction
    refine: str = not_fingerprinted("none")  # crf (DeepLab's kernels) | par | none | auto on the prediction

    def __post_init__(self) -> None:
        if self.backbone is not None and self.backbone not in available_backbones():
            raise ConfigError(f"'seg.backbone' must be one of {available_backbones()} (or null for model.backbone), "
                              f"got {self.backbone!r}")
        if self.weights is not None and self.backbone is None:
            raise ConfigError("'seg.weights' is the file of seg.backbone: set seg.backbone too, or give the shared "
                              "backbone's file as model.weights")


def check_segmentation_backbone(seg: SegConfig, model: ModelConfig) -> None:
    """Refuse, before any stage runs, a ``seg.backbone`` whose ImageNet weights are not on this
    machine, rather than after the stages before the segmentation network."""
    if seg.backbone is None:
        return
    path = weights_file(seg.backbone, model.pretrained, seg.weights)
    if path is not None and not path.is_file():
        raise ConfigError(f"'seg.weights': no file {path}; give the path of the {seg.backbone} weights")


def train_segmentation(seg: SegConfig, ctx: StageContext, labels: ArtifactDir, *,
                       step_fn: StepFn | None = None, sources: dict[str, Source] | None = None) -> Path:
    """Train on the label maps in ``labels`` (batch key ``mask``); writes ``checkpoints/seg.pt``.

    ``step_fn`` replaces the cross-entropy step, ``sources`` adds per-image inputs beside the mask.
    """
    meta = ctx.fingerprint(model=ctx.cfg.model, seg=seg, labels=labels.meta, seed=ctx.runtime.seed)

    def build(dataset: Any) -> tuple[nn.Module, StepFn]:
        net = ctx.create_model("segmentation", backbone=seg.backbone, weights=seg.weights,
                               num_classes=dataset.classes.num_classes, head=seg.head, head_channels=seg.head_channels)
        return net, step_fn or segmentation_step

    return train_stage(ctx, seg.train, build, out=ctx.paths.checkpoint(SEGMENTATION), meta=meta,
                       sources={"mask": LabelMaps(labels.path), **(sources or {})})


def predict_segmentation(seg: SegConfig, ctx: StageContext) -> list[ArtifactDir]:
    """Single-scale and multi-scale + flip predictions of ``checkpoints/seg.pt`` on the stage's split."""
    return predict_checkpoint(ctx, SEGMENTATION, scales=seg.scales, refine=seg.refine)


def predict_checkpoint(ctx: StageContext, name: str, *, scales: tuple[float, ...], refine: str,
                       crf: str = PREDICTION_CRF,
                       logits: Callable[[nn.Module, Tensor], Tensor] | None = None) -> list[ArtifactDir]:
    """Single-scale, then multi-scale + flip predictions of the network in ``checkpoints/<name>.pt``.

    ``logits(net, x)`` picks its segmentation logits (default: ``net(x)``); see ``predict``.
    """
    state = load_checkpoint(ctx.paths.checkpoint(name))

    def probabilities() -> ProbabilityFn:
        net = model_from_checkpoint(state).to(ctx.runtime.device).eval()
        return lambda x: F.softmax(logits(net, x) if logits else net(x), 1)

    return [predict(ctx, probabilities, state["meta"], scales=scales, refine=refine, crf=crf, multiscale=ms)
            for ms in (False, True)]


def predict(ctx: StageContext, probabilities: Callable[[], ProbabilityFn], source: dict[str, Any], *,
            scales: tuple[float, ...], refine: str, crf: str = PREDICTION_CRF, multiscale: bool) -> ArtifactDir:
    """Write ``preds/<split>-<ss|ms>[-refinement]/<id>.png`` label maps from any network.

    ``probabilities()`` builds the network's probability function (only when there is work);
    ``source`` is the fingerprint of what trained it; ``refine`` (crf | par | none) runs on the
    probabilities, the CRF with the ``crf`` preset.
    """
    scales = scales if multiscale else (1.0,)
    name = f"{ctx.split}-{'ms' if multiscale else 'ss'}" + ("" if refine == "none" else f"-{refine}")
    meta = ctx.fingerprint(network=source, scales=list(scales), flip=multiscale, refine=refine, crf=crf)
    folder = ArtifactDir(ctx.paths.preds(name), meta, ".png")

    def make_process() -> Process:
        probs_of = probabilities()

        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str | None]:
            scores = multiscale_maps(probs_of, image.to(ctx.runtime.device), scales, multiscale)
            probs = (scores / scores.sum(0, keepdim=True)).cpu().numpy()
            method = None
            if refine != "none":
                probs, method = refine_probs(to_uint8(image), probs, refine, crf=crf)
            return probs.argmax(0).astype(np.uint8), method
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"predict {name}")


def masked_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Cross entropy over labelled pixels; 0 (not NaN) for a batch with none labelled."""
    logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    total = F.cross_entropy(logits.float(), target, ignore_index=IGNORE, reduction="sum")
    return total / (target != IGNORE).sum().clamp_min(1)


def segmentation_step(net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
    """The default training step: cross entropy of the logits against the ``mask`` batch entry."""
    return {"loss": masked_cross_entropy(net(batch["image"]), batch["mask"])}
