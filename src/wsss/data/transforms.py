"""Joint training transforms: random parameters are drawn once from a given generator and
applied alike to the image (bilinear), to any number of named label maps (nearest) and float
maps such as CAMs or saliency (bilinear), so all stay aligned pixel for pixel.

Images come out as float32 in [0, 1], NOT normalised: the backbone normalises. Crop padding
is the ImageNet mean for the image (zero after the backbone's normalisation, as the zero
padding of normalised images in the official PSA code), IGNORE for label maps and 0 for maps.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance

from wsss.constants import IGNORE

IMAGE_PAD = (0.485, 0.456, 0.406)


def _enhance(kind: type) -> Callable[[Image.Image, float], Image.Image]:
    return lambda image, factor: kind(image).enhance(factor)


def _adjust_hue(image: Image.Image, shift: float) -> Image.Image:
    """Rotate the hue by ``shift`` turns (torchvision's PIL hue adjustment)."""
    hue, saturation, value = image.convert("HSV").split()
    rotated = (np.asarray(hue, np.int16) + int(shift * 255)) % 256
    return Image.merge("HSV", (Image.fromarray(rotated.astype(np.uint8)), saturation, value)).convert("RGB")


# brightness, contrast, saturation, hue: the PIL operations torchvision's ColorJitter uses,
# without importing torchvision (seconds of start-up in every data-loading process)
_JITTER_OPS = (_enhance(ImageEnhance.Brightness), _enhance(ImageEnhance.Contrast),
               _enhance(ImageEnhance.Color), _adjust_hue)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [0, 1]."""
    return torch.from_numpy(_planar(image))


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """The inverse of `to_tensor`: (3, H, W) in [0, 1] -> (H, W, 3) uint8 (e.g. for a CRF)."""
    return (image.detach().permute(1, 2, 0).cpu().numpy() * 255).round().clip(0, 255).astype(np.uint8)


def _planar(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> contiguous float32 (3, H, W) in [0, 1]."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32) / np.float32(255)


@dataclass(frozen=True)
class _Params:
    """One draw of the random parameters."""

    size: tuple[int, int]  # (height, width) after the resize
    jitter: list[tuple[int, float]]  # (op index, factor) in application order
    flip: bool
    rows: tuple[int, int, int]  # (source start, target start, length) of the crop
    cols: tuple[int, int, int]


@dataclass(frozen=True)
class TrainTransform:
    """Random long-side resize, colour jitter, horizontal flip, then a padded random crop.

    ``color_jitter`` holds torchvision ColorJitter factors (brightness, contrast, saturation,
    hue), applied in a random order.
    """

    crop_size: int
    resize_long: tuple[int, int]
    flip: bool = True
    color_jitter: tuple[float, float, float, float] | None = None

    def __call__(
        self,
        image: np.ndarray,
        rng: np.random.Generator,
        labels: Mapping[str, np.ndarray] | None = None,
        maps: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, torch.Tensor]:
        """``image`` (H, W, 3) uint8, ``labels`` by name (H, W) uint8 label maps, ``maps`` by
        name (C, h, w) float maps (any size; resized with the image) -> ``image`` (3, S, S)
        float32 and, under its own name, each label map (S, S) int64 and float map (C, S, S)
        float32."""
        params = self._draw(rng, image.shape[:2])
        out = {"image": torch.from_numpy(self._image(image, params))}
        for name, label in (labels or {}).items():
            out[name] = torch.from_numpy(self._geometry(_resize_label(label, params.size), params, IGNORE)).long()
        for name, array in (maps or {}).items():
            out[name] = torch.from_numpy(self._geometry(_resize_maps(array, params.size), params, 0.0))
        return out

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> _Params:
        long_side = int(rng.integers(self.resize_long[0], self.resize_long[1] + 1))
        scale = long_side / max(shape)
        size = (max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale)))
        jitter = _draw_jitter(rng, self.color_jitter) if self.color_jitter else []
        flip = self.flip and bool(rng.random() < 0.5)
        rows, cols = (_draw_crop(rng, length, self.crop_size) for length in size)
        return _Params(size, jitter, flip, rows, cols)

    def _image(self, image: np.ndarray, params: _Params) -> np.ndarray:
        pil = Image.fromarray(image).resize(params.size[::-1], Image.BILINEAR)
        for op, factor in params.jitter:
            pil = _JITTER_OPS[op](pil, factor)
        return self._geometry(_planar(np.asarray(pil)), params, np.array(IMAGE_PAD, np.float32).reshape(3, 1, 1))

    def _geometry(self, array: np.ndarray, params: _Params, fill: float | np.ndarray) -> np.ndarray:
        """Flip and crop a (..., H, W) array, padding with ``fill``.

        Numpy, not torch: on small arrays torch's per-op threading costs more than the work.
        """
        if params.flip:
            array = array[..., ::-1]
        out = np.empty(array.shape[:-2] + (self.crop_size, self.crop_size), dtype=array.dtype)
        out[...] = fill
        (src_y, dst_y, height), (src_x, dst_x, width) = params.rows, params.cols
        out[..., dst_y:dst_y + height, dst_x:dst_x + width] = \
            array[..., src_y:src_y + height, src_x:src_x + width]
        return out


def _draw_jitter(rng: np.random.Generator, strengths: tuple[float, ...]) -> list[tuple[int, float]]:
    """ColorJitter factors: 1 +- s for brightness, contrast, saturation; +- s for hue."""
    jitter = []
    for op in rng.permutation(len(_JITTER_OPS)):
        strength = strengths[op]
        if strength > 0:
            low, high = (-strength, strength) if op == 3 else (max(0.0, 1 - strength), 1 + strength)
            jitter.append((int(op), float(rng.uniform(low, high))))
    return jitter


def _draw_crop(rng: np.random.Generator, length: int, crop: int) -> tuple[int, int, int]:
    """A random window of ``crop`` over ``length`` pixels; a shorter side sits at a random
    place in the padded crop."""
    if length >= crop:
        return int(rng.integers(0, length - crop + 1)), 0, crop
    return 0, int(rng.integers(0, crop - length + 1)), length


def _resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(label).resize(size[::-1], Image.NEAREST))


def _resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    tensor = torch.from_numpy(np.array(maps, dtype=np.float32))[None]
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)[0].numpy()
