"""Class names, the mapping between foreground indices and mask values, and the VOC palette.

Image labels are multi-hot vectors over the FOREGROUND classes only; masks hold mask values.
With a background class (VOC) background is mask value 0 and foreground index k is mask value
k + 1; without one (MSRC, CamVid) foreground index k is mask value k.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsss.constants import IGNORE
from wsss.io import DataFileError

BACKGROUND = "background"


@dataclass(frozen=True)
class ClassSet:
    """The classes of a dataset in mask-value order; ``names[0]`` is background when present."""

    names: tuple[str, ...]
    has_background: bool

    def __post_init__(self) -> None:
        if len(self.names) - int(self.has_background) < 1:
            raise ValueError(f"a class set needs at least one foreground class, got {self.names}")
        if len(self.names) > IGNORE:
            raise ValueError(f"at most {IGNORE} classes fit in a mask ({IGNORE} is void), got {len(self.names)}")

    @property
    def num_classes(self) -> int:
        """Number of mask classes (background included when present)."""
        return len(self.names)

    @property
    def num_foreground(self) -> int:
        return len(self.names) - int(self.has_background)

    @property
    def foreground_names(self) -> tuple[str, ...]:
        return self.names[int(self.has_background):]

    def mask_value(self, fg_index: int) -> int:
        """Mask value of foreground class ``fg_index``."""
        if not 0 <= fg_index < self.num_foreground:
            raise ValueError(f"foreground index {fg_index} out of range 0..{self.num_foreground - 1}")
        return fg_index + int(self.has_background)

    def fg_index(self, mask_value: int) -> int:
        """Foreground index of a mask value (background and void have none)."""
        index = mask_value - int(self.has_background)
        if not 0 <= index < self.num_foreground:
            raise ValueError(f"mask value {mask_value} is not a foreground class of {self.names}")
        return index

    def index_of(self, name: str) -> int:
        """Foreground index of a class name; KeyError lists the known names."""
        try:
            return self.foreground_names.index(name)
        except ValueError:
            known = ", ".join(self.foreground_names)
            raise KeyError(f"unknown class '{name}'; known classes: {known}") from None

    def multi_hot(self, fg_indices: Iterable[int]) -> np.ndarray:
        """Float32 multi-hot vector [num_foreground] with ones at ``fg_indices``."""
        labels = np.zeros(self.num_foreground, dtype=np.float32)
        labels[list(fg_indices)] = 1.0
        return labels

    def labels_from_mask(self, mask: np.ndarray) -> np.ndarray:
        """Multi-hot image labels: every foreground class with at least one pixel in ``mask``."""
        counts = np.bincount(mask.ravel(), minlength=256)[: self.num_classes]
        present = np.flatnonzero(counts[int(self.has_background):])
        return self.multi_hot(present)

    def palette(self) -> list[int]:
        """The PASCAL VOC colour map as 768 ints (R, G, B per index), for palette PNGs."""
        return voc_palette()


def voc_palette() -> list[int]:
    """VOC colour map: the bits of each index spread over the high bits of R, G and B."""
    palette = []
    for index in range(256):
        rgb = [0, 0, 0]
        value = index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        palette.extend(rgb)
    return palette


VOC_CLASSES = ClassSet(
    names=(
        BACKGROUND, "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
        "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
        "sheep", "sofa", "train", "tvmonitor",
    ),
    has_background=True,
)


def load_classes(path: str | Path) -> ClassSet:
    """Read ``classes.txt``: one name per line; ``background`` as the first line means a
    background class (mask value 0), otherwise every class is a foreground class."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: classes file not found; write one class name per line")
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if not names:
        raise DataFileError(f"{path}: classes file is empty; write one class name per line")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise DataFileError(f"{path}: duplicate class names {duplicates}; each name must appear once")
    if BACKGROUND in names[1:]:
        raise DataFileError(
            f"{path}: '{BACKGROUND}' must be the first line (mask value 0) or absent"
        )
    try:
        return ClassSet(names, has_background=names[0] == BACKGROUND)
    except ValueError as err:
        raise DataFileError(f"{path}: {err}") from err
