"""PSA's own config sections: seeds, AffinityNet, random walk (the segmentation net is shared)."""
from __future__ import annotations

from dataclasses import dataclass, field

from wsss.config import ConfigError, TrainConfig, check_choice

# Pairs of the affinity graph: every in-map pair, or those the authors' released code keeps
# (sources in rows [:-(r-1)], columns [r-1:-(r-1)]; ``wsss.ops.affinity.source_crop``).
PAIR_SETS = ("all", "crop")
# How the walked maps become labels on a dataset with a background class (``RandomWalker``).
BACKGROUND_RULES = ("power", "threshold")


@dataclass(frozen=True)
class SeedConfig:
    """PSA's affinity labels: confident foreground / background from the CAMs (stride 8)."""

    alpha_low: float = 4.0  # (1 - max cam)^4: a weak background, so foreground wins where confident
    alpha_high: float = 32.0  # (1 - max cam)^32: a strong background (paper: 24)
    fg_threshold: float = 0.3  # no-background datasets: confident where the top CAM exceeds this
    refine: str = "auto"  # crf | par | none | auto (crf when installed, else par)
    crf_preset: str = "psa"
    # How AffinityNet's labels reach its stride-8 grid: nearest sampling of the seed label, or the
    # refined scores average-pooled by 8 after the crop, then argmax (the authors' code)
    labels_at_stride: str = "nearest"
    # Keep only the seeds a salient-object model agrees with (``wsss.ops.saliency``; not in the
    # paper): fg where salient, bg where not. Needs a background class and nearest labels.
    saliency: bool = False
    saliency_threshold: float = 0.5

    def __post_init__(self) -> None:
        check_choice("seeds.labels_at_stride", self.labels_at_stride, ("nearest", "pooled"))


@dataclass(frozen=True)
class AffConfig:
    """AffinityNet: pixel embeddings whose L1 distance gives pair affinities."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=0.01, epochs=5))
    radius: int = 5
    dims: tuple[int, int, int] = (64, 128, 256)
    pairs: str = "all"  # all | crop (the authors' code)
    init_gain: float = 1.0  # xavier gain of the embedding's last 1x1 conv (the authors' code: 4)
    freeze_bn: bool = False  # the authors' code freezes ResNet-38's BatchNorm
    frozen: tuple[str, ...] = ()  # backbone modules kept fixed (the authors' ResNet-38: conv1a, b2, b2_1, b2_2)

    def __post_init__(self) -> None:
        check_choice("aff.pairs", self.pairs, PAIR_SETS)


@dataclass(frozen=True)
class PseudoConfig:
    """Random walk of CAMs with AffinityNet affinities -> pseudo labels."""

    # The demo's values, from `wsss sweep-pseudo`: 76.7 mIoU there against 62.9 for PSA's
    # t 256, alpha 16 (kept in configs/psa_voc.yaml), which over-smooth the small demo maps.
    beta: float = 8.0
    steps: int = 64  # t (PSA: 256 = 2^logt, logt 8)
    alpha: float = 8.0  # background (1 - max cam)^alpha before the walk (PSA: 16)
    radius: int = 5
    refine: str = "none"  # crf | par | none | auto on the propagated maps
    pairs: str = "all"  # all | crop (the authors' code)
    # grid: (1 - max)^alpha on the CAMs pooled to the walk's grid | image: at image resolution,
    # then pooled (the authors' code)
    bg_at: str = "grid"
    pad_to: int = 1  # pad image and CAMs to a multiple of this before the walk (the authors' code: 8)
    # power: PSA's background (1 - max)^alpha walked beside the CAMs | threshold: only the CAMs
    # walk; each walked map is divided by its maximum (as the CAM stage normalises) and background
    # is where every class stays under bg_threshold: the CAM evaluation's rule, so at t = 0 the
    # labels are the CAM's own, and a long walk cannot drown a weak background (not in the paper)
    background: str = "power"
    bg_threshold: float = 0.25  # the CAM evaluation's default (eval.bg_threshold)

    def __post_init__(self) -> None:
        check_choice("pseudo.background", self.background, BACKGROUND_RULES)
        if self.pad_to < 1:
            raise ConfigError(f"'pseudo.pad_to' must be >= 1, got {self.pad_to}")
        check_choice("pseudo.pairs", self.pairs, PAIR_SETS)
        check_choice("pseudo.bg_at", self.bg_at, ("grid", "image"))
