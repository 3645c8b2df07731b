"""AffinityNet / PSA (Ahn & Kwak, CVPR 2018) as a list of stages.

classifier -> CAMs -> [saliency] -> seeds (confident fg/bg, refined) -> AffinityNet -> random walk ->
pseudo labels -> segmentation network -> prediction on val. Each stage skips itself when its
outputs are complete for the same configuration, so ``wsss run`` resumes where it stopped.
"""
from __future__ import annotations

from pathlib import Path

from wsss.config import RunConfig
from wsss.data import ClassSet
from wsss.methods.base import CAMS, PREDICTIONS, Method, Product, Stage
from wsss.methods.psa.affinity import train_affinity
from wsss.methods.psa.config import AffConfig, PseudoConfig, SeedConfig
from wsss.methods.psa.pseudo import make_pseudo_labels
from wsss.methods.psa.seeds import check_seed_settings, make_seeds
from wsss.methods.psa.sweep import SWEEP_COMMAND
from wsss.stages.cams import compute_cams
from wsss.stages.classification import train_classifier
from wsss.stages.context import StageContext
from wsss.stages.saliency import SaliencyConfig, compute_saliency
from wsss.stages.segmentation import (SegConfig, check_segmentation_backbone, predict_segmentation,
                                      train_segmentation)


def _train_segmentation(seg: SegConfig, ctx: StageContext) -> Path:
    return train_segmentation(seg, ctx, ctx.outputs["pseudo"])


def _check_settings(cfg: RunConfig, classes: ClassSet) -> None:
    check_seed_settings(cfg, classes)
    check_segmentation_backbone(cfg.seg, cfg.model)


METHOD = Method(
    name="psa",
    summary="AffinityNet (Ahn & Kwak, CVPR 2018): CAM seeds -> learned affinities -> random walk -> seg net",
    sections={"saliency": SaliencyConfig, "seeds": SeedConfig, "aff": AffConfig, "pseudo": PseudoConfig,
              "seg": SegConfig},
    stages=(
        Stage("train-cls", train_classifier, "train the classification network on image labels", section="cls"),
        Stage("cams", compute_cams, "multi-scale CAMs of a split",
              section="cam", produces=CAMS, any_split=True),
        Stage("saliency", compute_saliency, "salient-object maps of a split (for seeds.saliency)",
              section="saliency", any_split=True, when=lambda cfg: cfg.seeds.saliency),
        Stage("seeds", make_seeds, "confident fg/bg seeds from the CAMs (refined by CRF or PAR)", section="seeds",
              produces=Product("seeds", "labels", "seeds {name} (confident px only)", ignore_mode="excluded")),
        Stage("train-aff", train_affinity, "train AffinityNet on the seeds", section="aff"),
        Stage("pseudo", make_pseudo_labels, "random-walk pseudo labels for the training split", section="pseudo",
              produces=Product("pseudo", "labels", "pseudo (RW) {name}")),
        Stage("train-seg", _train_segmentation, "train the segmentation network on the pseudo labels",
              section="seg"),
        Stage("predict", predict_segmentation, "predict the val split (or --split), single- and multi-scale + flip",
              section="seg", split="val", produces=PREDICTIONS, any_split=True),
    ),
    commands=(SWEEP_COMMAND,),
    check=_check_settings,
)
