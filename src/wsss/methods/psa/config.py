"""PSA's own config sections: seeds, AffinityNet, random walk (the segmentation net is shared)."""
from __future__ import annotations

from dataclasses import dataclass, field

from wsss.config import TrainConfig


@dataclass(frozen=True)
class SeedConfig:
    """PSA's affinity labels: confident foreground / background from the CAMs (stride 8)."""

    alpha_low: float = 4.0  # (1 - max cam)^4: a weak background, so foreground wins where confident
    alpha_high: float = 32.0  # (1 - max cam)^32: a strong background (paper: 24)
    fg_threshold: float = 0.3  # no-background datasets: confident where the top CAM exceeds this
    refine: str = "auto"  # crf | par | none | auto (crf when installed, else par)
    crf_preset: str = "psa"


@dataclass(frozen=True)
class AffConfig:
    """AffinityNet: pixel embeddings whose L1 distance gives pair affinities."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=0.01, epochs=5))
    radius: int = 5
    dims: tuple[int, int, int] = (64, 128, 256)


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
