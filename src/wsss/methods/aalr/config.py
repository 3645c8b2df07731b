"""AA&LR's config section (Zhang et al., ACM MM 2021; DESIGN.md section 4)."""
from __future__ import annotations

from dataclasses import dataclass, field

from wsss.config import ConfigError, TrainConfig, check_choice, not_fingerprinted
from wsss.ops.crf import REFINE_METHODS
from wsss.ops.label_reassign import MODES


@dataclass(frozen=True)
class AALRConfig:
    """One network trained once: classification, then segmentation on its own CAMs' masks."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=0.01, epochs=8))
    # Start from: imagenet (the backbone only: one network, one run, as the paper) | classifier (the
    # run's classifier stage, train-cls, trained first with the cls section: a shorter warm-up)
    init: str = "imagenet"
    warmup_epochs: int = 2  # classification only; the segmentation losses switch on after
    bg_threshold: float = 0.25  # on-the-fly masks: background where the max normalised CAM is below
    mask_stride: int = 4  # masks are made (and refined) at 1/mask_stride of the crop, for speed
    refine: str = "auto"  # on-the-fly refinement: crf | par | none | auto (crf when installed)
    head_channels: int = 256  # LargeFOV width of the segmentation branch
    embed_dims: int = 64  # projection head for the label-reassign step
    affinity_weight: float = 1.0  # adaptive affinity loss (0: off)
    # neighbour offset in pixels of the masks (1/mask_stride of the crop): 8 at stride 4 is the
    # authors' 4 on their stride-8 grid (32 image pixels)
    affinity_distance: int = 8
    affinity_margin: float = 3.0
    reassign: bool = True  # label reassignment and its embedding loss
    reassign_mode: str = "relabel"  # relabel | ignore the reassigned pixels
    reassign_margin: float = 0.2  # cosine gap by which another class's centroid must win
    confident: float = 0.9  # pixels whose refined mask probability reaches this make the centroids
    embed_weight: float = 0.1  # weight of the embedding (centroid) loss
    scales: tuple[float, ...] = not_fingerprinted((1.0, 0.5, 1.5))  # the multi-scale + flip prediction
    predict_refine: str = not_fingerprinted("none")  # on the predictions: crf | par | none

    def __post_init__(self) -> None:
        check_choice("aalr.init", self.init, ("imagenet", "classifier"))
        if self.warmup_epochs >= self.train.epochs:
            raise ConfigError(f"'aalr.warmup_epochs' ({self.warmup_epochs}) must be below aalr.train.epochs "
                              f"({self.train.epochs}), or the segmentation branch never trains")
        check_choice("aalr.refine", self.refine, REFINE_METHODS)
        check_choice("aalr.reassign_mode", self.reassign_mode, MODES)
        check_choice("aalr.predict_refine", self.predict_refine, ("crf", "par", "none"))
