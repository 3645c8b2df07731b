"""The prototype method's config section (a reading of Zhou, Luo & Li, 2024; DESIGN.md section 4)."""
from __future__ import annotations

from dataclasses import dataclass, field

from wsss.config import ConfigError, TrainConfig, check_choice, not_fingerprinted
from wsss.ops.label_reassign import MODES


@dataclass(frozen=True)
class PrototypeConfig:
    """One multi-task network whose prototypes densify the CAMs and rectify the pseudo labels."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=0.01, epochs=8))
    # Start from: imagenet (the backbone only: one network, one run, as the paper) | classifier (the
    # run's classifier stage, train-cls, trained first with the cls section: a shorter warm-up)
    init: str = "imagenet"
    warmup_epochs: int = 2  # classification only; segmentation, prototypes and contrast switch on after
    prototypes: int = 4  # K per class (background included)
    momentum: float = 0.9  # prototype EMA
    confident: float = 0.6  # pixels whose label holds this share of their classes' scores update the prototypes
    temperature: float = 0.1  # prototype contrastive loss
    contrast_weight: float = 0.1
    # Background from its prototypes (the reading's idea) | false: the constant bg_threshold. Off by
    # default: on the demo the background prototypes took every pixel (9.8 mIoU, see the README).
    background_prototypes: bool = False
    bg_threshold: float = 0.25  # background score before its prototypes exist, or without them
    rectify: bool = True  # relabel (or ignore) pixels whose nearest prototype disagrees by a margin
    rectify_mode: str = "relabel"  # relabel | ignore
    rectify_margin: float = 0.2  # cosine gap by which another class's prototype must win
    mask_stride: int = 4  # pseudo labels are made at 1/mask_stride of the crop
    head_channels: int = 256
    embed_dims: int = 64
    scales: tuple[float, ...] = not_fingerprinted((1.0, 0.5, 1.5))  # the multi-scale + flip prediction
    predict_refine: str = not_fingerprinted("none")  # on the predictions: crf | par | none

    def __post_init__(self) -> None:
        check_choice("prototype.init", self.init, ("imagenet", "classifier"))
        if self.warmup_epochs >= self.train.epochs:
            raise ConfigError(f"'prototype.warmup_epochs' ({self.warmup_epochs}) must be below "
                              f"prototype.train.epochs ({self.train.epochs}), or the segmentation branch never trains")
        check_choice("prototype.rectify_mode", self.rectify_mode, MODES)
        check_choice("prototype.predict_refine", self.predict_refine, ("crf", "par", "none"))
