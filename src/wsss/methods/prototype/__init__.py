"""The prototype-guided multi-task network (Zhou, Luo & Li, 2024) as a list of stages. The paper's
public text gives the idea, not the equations: this is the reading of DESIGN.md section 4.

train-prototype (classification, then segmentation on prototype-densified, rectified pseudo labels
with a prototype contrastive loss) -> its CAMs on train (the plain CAM of the same network) -> its
localization maps on train (argmax, no rectification) -> its rectified pseudo labels -> prediction.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from wsss.config import ConfigError
from wsss.data import ClassSet
from wsss.engine.checkpoint import load_checkpoint
from wsss.methods.base import CAMS, PREDICTIONS, Method, Product, Stage
from wsss.methods.prototype.config import PrototypeConfig
from wsss.methods.prototype.localization import localize, prototype_similarities, pseudo_labels
from wsss.methods.prototype.training import NETWORK, train_prototype
from wsss.models.factory import model_from_checkpoint
from wsss.ops.cam import multiscale_maps
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.cams import compute_cams
from wsss.stages.classification import train_classifier
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images
from wsss.stages.one_network import predict_one_network


def _labels(cfg: PrototypeConfig, ctx: StageContext, kind: str, rectify: bool) -> ArtifactDir:
    """``<kind>/<split>/``: the trained network's labels at image size, from CAMs and prototype
    similarities at the CAM stage's scales and flip, as the plain CAM it is compared with."""
    state = load_checkpoint(ctx.paths.checkpoint(NETWORK))
    cam = ctx.cfg.cam
    folder = ArtifactDir(ctx.paths.labels(kind, ctx.split),
                         ctx.fingerprint(network=state["meta"], rectify=rectify, scales=cam.scales, flip=cam.flip),
                         ".png")
    has_background = ctx.classes.has_background
    passes = len(cam.scales) * (2 if cam.flip else 1)

    def make_process() -> Process:
        net = model_from_checkpoint(state).to(ctx.runtime.device).eval()

        def maps(x: torch.Tensor) -> torch.Tensor:
            out = net(x)
            return torch.cat([F.relu(out["cams"]), prototype_similarities(out, net.prototypes)], 1)

        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, None]:
            total = multiscale_maps(maps, image.to(ctx.runtime.device), cam.scales, cam.flip)[None]
            tags = torch.as_tensor(labels)[None].to(total.device)
            cams, sims = total[:, :tags.shape[1]], total[:, tags.shape[1]:] / passes
            loc = localize(cams, sims, tags, net.seen, cfg, has_background, tuple(image.shape[-2:]))
            label, _ = pseudo_labels(loc, net.seen, cfg, rectify=rectify)
            return label[0].cpu().numpy().astype(np.uint8), None
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"{kind} {ctx.split}")


def localization_labels(cfg: PrototypeConfig, ctx: StageContext) -> ArtifactDir:
    """``loc/<split>/``: the argmax of the localization maps, before rectification."""
    return _labels(cfg, ctx, "loc", rectify=False)


def rectified_labels(cfg: PrototypeConfig, ctx: StageContext) -> ArtifactDir:
    """``pseudo/<split>/``: the pseudo labels the segmentation branch learns from (rectified when set)."""
    return _labels(cfg, ctx, "pseudo", rectify=cfg.rectify)


def check_settings(cfg, classes: ClassSet) -> None:
    """Background prototypes need a background class."""
    if cfg.prototype.background_prototypes and not classes.has_background:
        raise ConfigError("prototype.background_prototypes=true needs a dataset with a background class; "
                          "set it to false (the argmax then runs over the image's classes)")


METHOD = Method(
    name="prototype",
    summary="Prototype-guided multi-task network (Zhou, Luo & Li, 2024; a reading of the paper): prototypes "
            "densify the CAMs and rectify the pseudo labels",
    sections={"prototype": PrototypeConfig},
    stages=(
        Stage("train-cls", train_classifier, "train the classification network on image labels",
              section="cls", when=lambda cfg: cfg.prototype.init == "classifier"),
        Stage("train-prototype", train_prototype, "train the one network with its prototypes", section="prototype"),
        Stage("cams", partial(compute_cams, checkpoint=NETWORK), "multi-scale CAMs of a split",
              section="cam", produces=CAMS, any_split=True),
        Stage("localize", localization_labels, "labels from the localization maps (no rectification) on train",
              section="prototype", produces=Product("loc", "labels", "localization {name}")),
        Stage("pseudo", rectified_labels, "the rectified pseudo labels on train", section="prototype",
              produces=Product("pseudo", "labels", "pseudo (rectified) {name}")),
        Stage("predict", partial(predict_one_network, kind=NETWORK),
              "predict the val split (or --split), single- and multi-scale + flip", section="prototype", split="val",
              produces=PREDICTIONS, any_split=True),
    ),
    check=check_settings,
)
