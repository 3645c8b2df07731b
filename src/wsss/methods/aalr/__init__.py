"""AA&LR (Zhang et al., ACM MM 2021) as a list of stages: one network, one training run.

train-aalr (classification, then segmentation on masks made on the fly from its own CAMs, with the
adaptive affinity and label-reassign losses) -> its CAMs on train (scored as the CAM of the same
classifier) -> its final on-the-fly masks on train (scored as pseudo labels) -> prediction on val.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from wsss.engine.checkpoint import load_checkpoint
from wsss.methods.aalr.config import AALRConfig
from wsss.methods.aalr.masks import online_masks
from wsss.methods.aalr.training import NETWORK, train_aalr
from wsss.methods.base import CAMS, PREDICTIONS, Method, Product, Stage
from wsss.models.factory import model_from_checkpoint
from wsss.ops.cam import multiscale_maps
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.cams import compute_cams
from wsss.stages.classification import train_classifier
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images
from wsss.stages.one_network import predict_one_network

PSEUDO = "pseudo"


def final_masks(cfg: AALRConfig, ctx: StageContext) -> ArtifactDir:
    """``pseudo/<split>/``: the masks of the trained network by the training rule (``online_masks``),
    from its CAMs at the CAM stage's scales and flip, as the plain CAM they are compared with."""
    state = load_checkpoint(ctx.paths.checkpoint(NETWORK))
    cam = ctx.cfg.cam
    folder = ArtifactDir(ctx.paths.labels(PSEUDO, ctx.split),
                         ctx.fingerprint(network=state["meta"], scales=cam.scales, flip=cam.flip), ".png")
    bg_threshold = cfg.bg_threshold if ctx.classes.has_background else None

    def make_process() -> Process:
        net = model_from_checkpoint(state).to(ctx.runtime.device).eval()

        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str]:
            x = image[None].to(ctx.runtime.device)
            tags = torch.as_tensor(labels)[None].to(x.device)
            cams = multiscale_maps(net.cams, x[0], cam.scales, cam.flip)[None]
            masks, _, ran = online_masks(cams, tags, x, bg_threshold=bg_threshold, stride=cfg.mask_stride,
                                         method=cfg.refine)
            full = F.interpolate(masks[:, None].float(), size=image.shape[-2:], mode="nearest")[0, 0]
            return full.cpu().numpy().astype(np.uint8), ran
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"masks {ctx.split}")


METHOD = Method(
    name="aalr",
    summary="AA&LR (Zhang et al., ACM MM 2021): single stage, on-the-fly CAM masks, adaptive affinity loss, "
            "label reassignment",
    sections={"aalr": AALRConfig},
    stages=(
        Stage("train-cls", train_classifier, "train the classification network on image labels",
              section="cls", when=lambda cfg: cfg.aalr.init == "classifier"),
        Stage("train-aalr", train_aalr, "train the one network: classification, then segmentation on its own masks",
              section="aalr"),
        Stage("cams", partial(compute_cams, checkpoint=NETWORK), "multi-scale CAMs of a split",
              section="cam", produces=CAMS, any_split=True),
        Stage("pseudo", final_masks, "the trained network's on-the-fly masks on the training split", section="aalr",
              produces=Product("pseudo", "labels", "pseudo (on the fly) {name}")),
        Stage("predict", partial(predict_one_network, kind=NETWORK),
              "predict the val split (or --split), single- and multi-scale + flip", section="aalr", split="val",
              produces=PREDICTIONS, any_split=True),
    ),
)
