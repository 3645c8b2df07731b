"""AuxSegNet's config section (Xu et al., ICCV 2021; the authors' values, DESIGN.md section 4)."""
from __future__ import annotations

from dataclasses import dataclass, field

from wsss.config import ConfigError, TrainConfig, check_choice, not_fingerprinted
from wsss.ops.crf import REFINE_METHODS


@dataclass(frozen=True)
class AuxConfig:
    """The multi-task network, its pseudo-label rounds and its prediction."""

    # Per round: the authors' lr 7e-4 (heads 10x), batch 4, 15 epochs; crop and scale in the configs
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=7e-4, epochs=15, batch_size=4))
    rounds: int = 4  # trainings; pseudo labels of rounds 0 .. rounds-1 (the paper's gains saturate at 3)
    warm_start: bool = True  # each round starts from the previous round's weights
    # Round 1 starts from: the run's classifier (backbone + classification layer, whose CAMs made
    # the round-0 labels) | imagenet (the backbone only). The authors pass a weight file of their choice.
    init: str = "classifier"
    cam_threshold: float = 0.2  # fusion: object where the max CAM exceeds this ...
    saliency_threshold: float = 0.06  # ... and the saliency exceeds this; background where neither
    output_stride: int = 8  # the network's backbone stride (the authors'); the classifier keeps model.output_stride
    channels: int = 128  # width of the saliency and segmentation branches
    freeze_bn: bool = True  # the authors freeze every BatchNorm of the backbone ...
    frozen: tuple[str, ...] = ()  # ... and its first conv (ResNet-38: conv1a)
    # What the affinity propagates when relabelling: own (the authors': the network's single-scale
    # CAMs) | own_multiscale (the network's CAMs at the cam section's scales and flip, the inference
    # that made round 0's CAMs) | classifier (the cams stage's multi-scale CAMs of the run's classifier)
    relabel_cams: str = "own"
    renormalize: bool = False  # divide each propagated CAM by its max before cam_threshold (the authors: no)
    saliency_refine: str = "auto"  # renewal CRF((sigmoid(P_ref_sal) + S_0) / 2): crf | par | none | auto
    chunk: int = 1024  # rows of the HW x HW affinities built at a time when labelling and predicting
    # the multi-scale + flip prediction (the paper: single scale)
    scales: tuple[float, ...] = not_fingerprinted((1.0, 0.5, 1.5))
    refine: str = not_fingerprinted("none")  # on the predictions: crf (the authors' preset) | par | none

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ConfigError(f"'aux.rounds' must be >= 1 (one training on the round-0 labels), got {self.rounds}")
        check_choice("aux.init", self.init, ("classifier", "imagenet"))
        check_choice("aux.relabel_cams", self.relabel_cams, ("own", "own_multiscale", "classifier"))
        check_choice("aux.saliency_refine", self.saliency_refine, REFINE_METHODS)
        check_choice("aux.refine", self.refine, ("crf", "par", "none"))
