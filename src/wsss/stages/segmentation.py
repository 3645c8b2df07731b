"""Stages ``train-seg`` and ``predict``: the segmentation network every method ends with.

It is trained on a folder of pseudo-label PNGs (255 = ignore) with cross entropy, and
predicts single-scale or multi-scale + flip, optionally refined (CRF or PAR).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.config import DataConfig, ModelConfig, SegConfig
from wsss.data.transforms import to_uint8
from wsss.engine.checkpoint import load_checkpoint
from wsss.progress import progress
from wsss.engine.runtime import Runtime
from wsss.io import write_label_png
from wsss.models.seg_net import SegNet
from wsss.ops.cam import multiscale_maps
from wsss.ops.crf import refine
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.cams import image_loader
from wsss.stages.common import backbone_from, fingerprint, open_dataset, train_stage

IGNORE = 255


def seg_path(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "seg.pt"


def build_seg_net(model: ModelConfig, seg: SegConfig, num_classes: int, pretrained: bool | None = None) -> SegNet:
    return SegNet(backbone_from(model, pretrained), num_classes, head=seg.head, head_channels=seg.head_channels)


def train_segmentation(data: DataConfig, model: ModelConfig, seg: SegConfig, runtime: Runtime, run_dir: Path,
                       labels: ArtifactDir, *, resume: bool = False) -> Path:
    """Train on the pseudo labels in ``labels``; writes ``checkpoints/seg.pt``."""
    out = seg_path(run_dir)
    meta = fingerprint(data=data, model=model, seg=seg, labels=labels.meta, seed=runtime.seed)
    return train_stage(lambda dataset: (build_seg_net(model, seg, dataset.classes.num_classes), _segmentation_step),
                       data, seg.train, stage="train-seg", out=out, meta=meta, runtime=runtime, run_dir=run_dir,
                       resume=resume, masks=labels.path)


def predict(data: DataConfig, model: ModelConfig, seg: SegConfig, runtime: Runtime, run_dir: Path, split: str,
            *, multiscale: bool) -> ArtifactDir:
    """Write ``preds/<split>-<ss|ms>[-refinement]/<id>.png`` label maps for every image of ``split``."""
    state = load_checkpoint(seg_path(run_dir))
    dataset = open_dataset(data, split)
    scales = seg.scales if multiscale else (1.0,)
    name = f"{split}-{'ms' if multiscale else 'ss'}" + ("" if seg.refine == "none" else f"-{seg.refine}")
    meta = fingerprint(segmentation=state["meta"], scales=list(scales), flip=multiscale, refine=seg.refine)
    folder = ArtifactDir(Path(run_dir) / "preds" / name, meta, ".png")
    if folder.is_complete(dataset.ids):
        return folder
    ids = folder.start(dataset.ids, runtime)
    net = build_seg_net(model, seg, dataset.classes.num_classes, pretrained=False)
    net.load_state_dict(state["model"])
    net.to(runtime.device).eval()
    used = set()
    with torch.inference_mode():
        for image_id, image, _ in progress(image_loader(dataset, ids, runtime.workers), f"predict {name}",
                                           runtime.progress):
            scores = multiscale_maps(lambda x: F.softmax(net(x), 1), image.to(runtime.device), scales, multiscale)
            probs = (scores / scores.sum(0, keepdim=True)).cpu().numpy()
            if seg.refine != "none":
                probs, method = refine(to_uint8(image), probs, seg.refine)
                used.add(method)
            write_label_png(folder.file(image_id), probs.argmax(0).astype(np.uint8), dataset.classes.palette())
    folder.complete(dataset.ids, runtime, refinement=sorted(used))
    return folder


def masked_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Cross entropy over labelled pixels; 0 (not NaN) for a batch with none labelled."""
    logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    total = F.cross_entropy(logits.float(), target, ignore_index=IGNORE, reduction="sum")
    return total / (target != IGNORE).sum().clamp_min(1)


def _segmentation_step(net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
    return {"loss": masked_cross_entropy(net(batch["image"]), batch["mask"])}

