"""AuxSegNet (Xu et al., ICCV 2021) as a list of stages.

classifier -> CAMs -> saliency -> round-0 fusion of CAM and saliency -> rounds of training the
multi-task network and relabelling with its cross-task affinity -> prediction on val with the
last round's network. Each stage skips itself when its outputs are complete for the same
configuration, so ``wsss run`` resumes where it stopped.
"""
from __future__ import annotations

from typing import Any

from wsss.config import ConfigError
from wsss.data import ClassSet
from wsss.methods.auxsegnet.config import AuxConfig
from wsss.methods.auxsegnet.fusion import fuse_round0
from wsss.methods.auxsegnet.rounds import checkpoint_name, train_rounds
from wsss.methods.base import CAMS, PREDICTIONS, Method, Product, Stage
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.cams import compute_cams
from wsss.stages.classification import train_classifier
from wsss.stages.context import StageContext
from wsss.stages.saliency import SaliencyConfig, compute_saliency
from wsss.stages.segmentation import predict_checkpoint

PSEUDO_ROUNDS = Product("pseudo", "labels", "pseudo {name}")


def predict_aux(aux: AuxConfig, ctx: StageContext) -> list[ArtifactDir]:
    """The last round's network on the split: refined segmentation ``P_ref``, single- and multi-scale."""
    return predict_checkpoint(ctx, checkpoint_name(aux.rounds), scales=aux.scales, refine=aux.refine,
                              crf="auxsegnet_seg", logits=lambda net, x: net(x, chunk=aux.chunk)["seg_ref"])


def check_background(cfg: Any, classes: ClassSet) -> None:
    """The fusion puts salient objects on a background: a dataset without one is refused up front."""
    if not classes.has_background:
        raise ConfigError("method auxsegnet needs a dataset with a background class: its pseudo labels mark "
                          "salient objects on a background, and every pixel here belongs to a class "
                          f"({', '.join(classes.names[:4])}, ...); use method=psa")


METHOD = Method(
    name="auxsegnet",
    summary="AuxSegNet (Xu et al., ICCV 2021): classification + saliency + segmentation with cross-task affinity, "
            "pseudo labels renewed over rounds",
    sections={"saliency": SaliencyConfig, "aux": AuxConfig},
    stages=(
        Stage("train-cls", train_classifier, "train the classification network on image labels", section="cls"),
        Stage("cams", compute_cams, "multi-scale CAMs of a split",
              section="cam", produces=CAMS, any_split=True),
        Stage("saliency", compute_saliency, "salient-object maps S_0 of a split", section="saliency",
              any_split=True),
        Stage("fuse", fuse_round0, "round-0 pseudo labels: CAM and saliency fused", section="aux",
              produces=PSEUDO_ROUNDS),
        Stage("train-aux", train_rounds, "train the multi-task network round after round, relabelling between",
              section="aux", produces=PSEUDO_ROUNDS),
        Stage("predict", predict_aux, "predict the val split (or --split), single- and multi-scale + flip",
              section="aux", split="val", produces=PREDICTIONS, any_split=True),
    ),
    check=check_background,
)
