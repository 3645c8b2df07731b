"""Small pictures for the gallery: photos, label maps in the dataset's palette, CAM heat maps.

NumPy and Pillow only (matplotlib stays optional). Label maps shrink by nearest neighbour so
every pixel keeps a class colour; photos and CAMs shrink bilinearly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from wsss.io import write_label_png

# A jet-like colour map: dark blue (0) -> blue -> cyan -> yellow -> red -> dark red (1).
_HEAT_STOPS = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])
_HEAT_COLOURS = np.array([[0, 0, 0.5], [0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0], [0.5, 0, 0]])


def thumbnail_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(width, height) with the long side at most ``long_side``, the aspect ratio kept."""
    scale = min(1.0, long_side / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def save_photo(path: Path, image: np.ndarray, long_side: int) -> np.ndarray:
    """Write an RGB image (H, W, 3) uint8 shrunk to ``long_side`` as JPEG; returns the small image."""
    small = Image.fromarray(image).resize(thumbnail_size(*image.shape[:2], long_side), Image.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    small.save(path, format="JPEG", quality=88)
    return np.asarray(small)


def save_label(path: Path, label: np.ndarray, long_side: int, palette: list[int]) -> None:
    """Write a class-index map (H, W) shrunk to ``long_side`` as a palette PNG."""
    small = Image.fromarray(label.astype(np.uint8)).resize(thumbnail_size(*label.shape, long_side), Image.NEAREST)
    write_label_png(path, np.asarray(small), palette)


def save_heat_map(path: Path, cam: np.ndarray, photo: np.ndarray) -> None:
    """Write a CAM (H, W) in [0, 1], resized to ``photo`` (h, w, 3), as a heat map over the photo."""
    height, width = photo.shape[:2]
    values = np.asarray(Image.fromarray(cam.astype(np.float32)).resize((width, height), Image.BILINEAR))
    blend = 0.45 * photo.astype(np.float32) + 0.55 * heat_colours(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(blend.round().clip(0, 255).astype(np.uint8)).save(path, format="JPEG", quality=88)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """RGB colours (..., 3) in 0..255 of values in [0, 1] (clipped) on the jet-like map."""
    values = np.clip(values, 0.0, 1.0)
    channels = [np.interp(values, _HEAT_STOPS, _HEAT_COLOURS[:, c]) for c in range(3)]
    return 255.0 * np.stack(channels, axis=-1)
