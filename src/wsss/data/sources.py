"""Per-image training targets read from a folder by image id: label maps and float maps.

Multi-task methods train on several of them at once (pseudo labels, seeds, CAMs, saliency);
`AugmentedDataset` routes each by its ``kind`` so the transform treats label maps with
nearest resizing and float maps with bilinear. Sources are plain objects, so they pickle
into data-loader workers.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from wsss.io import DataFileError, read_label_png

FLOAT_SUFFIXES = (".png", ".npz")


class Source(Protocol):
    """A per-image training target read by id: ``kind`` is ``label`` (resized nearest, padded
    IGNORE) or ``map`` (bilinear, padded 0); an optional ``finish(tensor)`` runs after the crop."""

    kind: str

    def __call__(self, image_id: str) -> np.ndarray: ...


class LabelMaps:
    """``folder/<id>.png`` label maps (palette or grey PNG of class indices) -> (H, W) uint8."""

    kind = "label"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __call__(self, image_id: str) -> np.ndarray:
        return read_label_png(self.folder / f"{image_id}.png")


class FloatMaps:
    """``folder/<id><suffix>`` float maps -> (C, H, W) float32.

    ``.png``: an 8-bit greyscale image (e.g. saliency) scaled to [0, 1], C = 1. ``.npz``: a
    CAM file (``cams`` (K, H, W), ``keys`` (K,) the foreground class of each map) spread over
    ``channels`` channels, zeros for the classes it has no map of.
    """

    kind = "map"

    def __init__(self, folder: Path, suffix: str = ".png", channels: int | None = None) -> None:
        if suffix not in FLOAT_SUFFIXES:
            raise ValueError(f"unknown float map suffix '{suffix}'; choose one of {FLOAT_SUFFIXES}")
        if suffix == ".npz" and channels is None:
            raise ValueError("CAM files (.npz) need channels: the number of foreground classes")
        self.folder, self.suffix, self.channels = Path(folder), suffix, channels

    def __call__(self, image_id: str) -> np.ndarray:
        path = self.folder / f"{image_id}{self.suffix}"
        if self.suffix == ".png":
            return _read_grey_png(path)[None]
        return _spread(*read_cams(path), self.channels, path)


def _read_grey_png(path: Path) -> np.ndarray:
    """An 8-bit greyscale PNG as (H, W) float32 in [0, 1]."""
    _require_file(path)
    try:
        with Image.open(path) as img:
            if img.mode != "L":
                raise DataFileError(f"{path}: float maps must be 8-bit greyscale PNGs (mode L), "
                                    f"got mode {img.mode}; convert it to greyscale")
            return np.asarray(img, np.float32) / np.float32(255)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataFileError(f"{path}: cannot decode image ({err}); re-export or remove it") from err


def read_cams(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(cams float32 (K, H, W), keys int64 (K,)) of one CAM file."""
    _require_file(path)
    try:
        with np.load(path) as data:
            cams, keys = data["cams"].astype(np.float32), data["keys"].astype(np.int64)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise DataFileError(f"{path}: cannot read CAM file ({err}); it needs arrays 'cams' "
                            f"(K, H, W) and 'keys' (K,); recompute it") from err
    if cams.ndim != 3 or keys.shape != cams.shape[:1]:
        raise DataFileError(f"{path}: cams {cams.shape} and keys {keys.shape} do not match; "
                            f"expected (K, H, W) and (K,); recompute it")
    return cams, keys


def _spread(cams: np.ndarray, keys: np.ndarray, channels: int, path: Path) -> np.ndarray:
    """(channels, H, W) with map k at channel ``keys[k]`` and zeros elsewhere."""
    if np.any((keys < 0) | (keys >= channels)):
        raise DataFileError(f"{path}: class keys {keys.tolist()} out of range 0..{channels - 1}; "
                            f"the CAMs belong to another class set, recompute them")
    out = np.zeros((channels,) + cams.shape[1:], np.float32)
    out[keys] = cams
    return out


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
