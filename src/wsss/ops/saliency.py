"""Saliency as a second opinion on a label map: keep what both agree on, ignore the rest."""
from __future__ import annotations

import numpy as np

from wsss.constants import IGNORE


def agree_with_saliency(label: np.ndarray, saliency: np.ndarray, threshold: float) -> np.ndarray:
    """``label`` (H, W, 0 = background, IGNORE = unknown) where the saliency (H, W, in [0, 1])
    agrees, IGNORE where it does not.

    Foreground stays where ``saliency > threshold``, background where it is not: a salient pixel
    the label calls background (an object the tags miss, or a part the CAM missed) and a
    non-salient pixel it calls an object (context the classifier fires on) both become unknown.
    AuxSegNet's round-0 pseudo labels are this rule on CAM > 0.2, saliency > 0.06.
    """
    if label.shape != saliency.shape:
        raise ValueError(f"label {label.shape} and saliency {saliency.shape} differ in size")
    salient = saliency > threshold
    foreground = (label != 0) & (label != IGNORE)
    out = label.copy()
    out[(foreground & ~salient) | ((label == 0) & salient)] = IGNORE
    return out
