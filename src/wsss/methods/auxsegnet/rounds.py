"""Stage ``train-aux``: AuxSegNet's rounds of training and relabelling.

Round r (1 .. rounds) trains the network on the pseudo labels and saliency of round r - 1
(round 1 from the run's classifier, ``aux.init``; later rounds warm-started from round r - 1's
weights), saved as ``checkpoints/aux-r<r>.pt``. Every round but the last then relabels the
training split: the network's own single-scale CAMs (ReLU, max normalised, on its stride-8 grid;
with ``relabel_cams: own_multiscale`` its CAMs at the CAM stage's scales and flip, as round 0's;
with ``classifier`` the run's multi-scale CAMs; both resized to that grid) multiplied once by its
cross-task affinity (optionally re-normalised) and upsampled; the
saliency renewed as the CRF of the mean of its refined saliency and the original maps S_0; the
two fused again (``fusion.fuse``). Each round's labels (``pseudo/<split>-round<r>/``) and
saliency (``saliency/<split>-round<r>/``) stay in the run folder and are scored.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.config import CamConfig
from wsss.data import SegDataset
from wsss.data.sources import FloatMaps, LabelMaps, read_cams
from wsss.data.transforms import to_uint8
from wsss.engine.checkpoint import load_checkpoint
from wsss.engine.trainer import StepFn
from wsss.io import write_grey_png
from wsss.methods.auxsegnet.config import AuxConfig
from wsss.methods.auxsegnet.fusion import PSEUDO, fuse, fusion_settings, round_folder
from wsss.models.cam_net import multilabel_loss
from wsss.models.factory import model_from_checkpoint
from wsss.ops.cam import multiscale_maps, normalize_cams
from wsss.ops.crf import refine
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.cams import CLASSIFIER
from wsss.stages.common import train_stage
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images
from wsss.stages.saliency import SALIENCY
from wsss.stages.segmentation import masked_cross_entropy

SALIENT = 0.5  # the saliency targets of the BCE losses are binarised here


def checkpoint_name(round_index: int) -> str:
    return f"aux-r{round_index}"


def train_rounds(aux: AuxConfig, ctx: StageContext) -> list[ArtifactDir]:
    """Train every round and relabel after each but the last; returns the label folders of rounds 1 ..
    rounds - 1 (round 0 is the ``fuse`` stage's)."""
    labels, saliency = ctx.outputs["fuse"], ctx.outputs[SALIENCY]
    maps_dir, previous = saliency.path, None
    produced = []
    for round_index in range(1, aux.rounds + 1):
        start = time.perf_counter()
        checkpoint = _train_round(aux, ctx, round_index, labels, maps_dir, previous)
        trained = time.perf_counter()
        if round_index < aux.rounds:
            labels = _relabel(aux, ctx, round_index, checkpoint, saliency)
            maps_dir, previous = ctx.paths.labels(SALIENCY, round_folder(ctx.split, round_index)), checkpoint
            produced.append(labels)
        if ctx.runtime.is_main:
            print(f"[train-aux] round {round_index}: trained in {trained - start:.1f} s, relabelled in "
                  f"{time.perf_counter() - trained:.1f} s", flush=True)
    return produced


def auxsegnet_step(net: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
    """cls (multi-label soft margin) + sal (BCE on P and P_ref) + seg (CE on P and P_ref), weights 1."""
    out = net(batch["image"])
    target = (batch["saliency"] > SALIENT).float()
    sal = sum(F.binary_cross_entropy_with_logits(_resized(out[k], target), target) for k in ("sal", "sal_ref"))
    seg = sum(masked_cross_entropy(out[k], batch["mask"]) for k in ("seg", "seg_ref"))
    cls = multilabel_loss(out["logits"].float(), batch["labels"])
    return {"loss": cls + sal + seg, "cls": cls.detach(), "sal": sal.detach(), "seg": seg.detach()}


def _resized(logits: Tensor, target: Tensor) -> Tensor:
    return F.interpolate(logits.float(), size=target.shape[-2:], mode="bilinear", align_corners=False)


def _train_round(aux: AuxConfig, ctx: StageContext, round_index: int, labels: ArtifactDir, maps_dir: Path,
                 previous: Path | None) -> Path:
    if previous is None:
        start = load_checkpoint(ctx.paths.checkpoint(CLASSIFIER)) if aux.init == "classifier" else None
    else:
        start = load_checkpoint(previous) if aux.warm_start else None
    network = {"channels": aux.channels, "freeze_bn": aux.freeze_bn, "frozen": list(aux.frozen)}
    meta = ctx.fingerprint(model=ctx.cfg.model, output_stride=aux.output_stride, train=aux.train, network=network,
                           labels=labels.meta, round=round_index, start=start["meta"] if start else None,
                           seed=ctx.runtime.seed)

    def build(dataset: SegDataset) -> tuple[nn.Module, StepFn]:
        net = ctx.create_model("auxsegnet", output_stride=aux.output_stride, num_classes=dataset.classes.num_classes,
                               **network)
        if previous is None and start is not None:
            net.start_from_classifier(start["model"])
        elif start is not None:
            net.load_state_dict(start["model"])
        return net, auxsegnet_step

    return train_stage(ctx, aux.train, build, out=ctx.paths.checkpoint(checkpoint_name(round_index)), meta=meta,
                       sources={"mask": LabelMaps(labels.path), SALIENCY: FloatMaps(maps_dir)})


def _relabel(aux: AuxConfig, ctx: StageContext, round_index: int, checkpoint: Path,
             original: ArtifactDir) -> ArtifactDir:
    """Write round ``round_index``'s labels, each after its renewed saliency map."""
    state = load_checkpoint(checkpoint)
    name = round_folder(ctx.split, round_index)
    classifier_cams = ctx.outputs["cams"] if aux.relabel_cams == "classifier" else None
    cam = ctx.cfg.cam
    sources = {"own": None, "own_multiscale": cam, "classifier": classifier_cams and classifier_cams.meta}
    meta = ctx.fingerprint(network=state["meta"], saliency=original.meta, fusion=fusion_settings(aux),
                           saliency_refine=aux.saliency_refine, relabel_cams=aux.relabel_cams,
                           renormalize=aux.renormalize, cams=sources[aux.relabel_cams])
    folder = ArtifactDir(ctx.paths.labels(PSEUDO, name), meta, ".png")
    renewed_dir = ctx.paths.labels(SALIENCY, name)
    classes = ctx.classes
    device = ctx.runtime.device

    def make_process() -> Process:
        net = model_from_checkpoint(state).to(device).eval()
        s0 = FloatMaps(original.path)
        renewed_dir.mkdir(parents=True, exist_ok=True)

        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str]:
            size, keys = image.shape[-2:], np.flatnonzero(labels)
            given = None if classifier_cams is None else \
                torch.from_numpy(read_cams(classifier_cams.file(image_id))[0]).to(device)
            out, propagated = propagated_cams(net, image.to(device), torch.as_tensor(keys, device=device), aux,
                                              cam, given)
            cams = _upsampled(propagated, size)
            mean = (_upsampled(torch.sigmoid(out["sal_ref"]), size)[0] + s0(image_id)[0]) / 2
            probs, method = refine(to_uint8(image), np.stack([1 - mean, mean]), aux.saliency_refine,
                                   crf="auxsegnet")
            write_grey_png(renewed_dir / f"{image_id}.png", probs[1])  # before the label: a label has its map
            values = np.array([classes.mask_value(int(k)) for k in keys], np.uint8)
            return fuse(cams, values, probs[1], aux.cam_threshold, aux.saliency_threshold), method
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"relabel round {round_index}")


def propagated_cams(net: nn.Module, image: Tensor, present: Tensor, aux: AuxConfig, cam: CamConfig,
                    classifier: Tensor | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """The network's outputs on ``image`` (3, H, W) and the present classes' CAMs times its
    cross-task affinity (1, K, h, w), from the source ``aux.relabel_cams`` names: its single-scale
    CAMs, its CAMs at ``cam``'s scales and flip, or ``classifier`` (K, H, W), the run's CAMs."""
    x = image[None]
    if aux.relabel_cams == "own":
        out = net(x, chunk=aux.chunk, propagate_cams=True)
        propagated = out["cams_ref"][:, present]
    else:
        if aux.relabel_cams == "classifier":
            cams = classifier.float()
        else:
            cams = normalize_cams(multiscale_maps(net.cams, image, cam.scales, cam.flip)[present])
        grid = net.backbone(x)[-1]
        out = net.heads(grid, chunk=aux.chunk,
                        maps=F.interpolate(cams[None], size=grid.shape[-2:], mode="bilinear", align_corners=False))
        propagated = out["maps_ref"]
    if aux.renormalize:
        propagated = propagated / (propagated.amax((2, 3), keepdim=True) + 1e-5)
    return out, propagated


def _upsampled(maps: Tensor, size: torch.Size) -> np.ndarray:
    """(1, K, h, w) -> (K, H, W) float32 numpy at the image's size."""
    return F.interpolate(maps.float(), size=size, mode="bilinear", align_corners=False)[0].cpu().numpy()
