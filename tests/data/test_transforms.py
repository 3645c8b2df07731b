import numpy as np
import pytest
import torch

from wsss.constants import IGNORE
from wsss.data.transforms import IMAGE_PAD, TrainTransform, to_tensor

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.float32) / 255


def coded_scene(height: int = 60, width: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """A mask of four 20-pixel-wide label bands plus a void corner, and an image whose
    pixel colour encodes the label (so alignment can be read back from the image)."""
    mask = np.repeat(np.arange(width) // 20, 1)[None].repeat(height, 0).astype(np.uint8)
    mask[:10, :10] = IGNORE
    image = np.zeros((height, width, 3), np.uint8)
    valid = mask != IGNORE
    image[valid] = (COLOURS[mask[valid]] * 255).astype(np.uint8)
    return image, mask


def interior(mask: np.ndarray) -> np.ndarray:
    """Labelled pixels whose 3x3 neighbourhood holds one label (bilinear cannot blend there)."""
    padded = np.pad(mask, 1, mode="edge")
    same = [padded[1 + dy:1 + dy + mask.shape[0], 1 + dx:1 + dx + mask.shape[1]] == mask
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.all(same, axis=0) & (mask != IGNORE)


def decoded_labels(image: torch.Tensor) -> np.ndarray:
    """The label whose colour is nearest to each pixel of a (3, H, W) image."""
    pixels = image.permute(1, 2, 0).numpy()[..., None, :]
    return np.argmin(((pixels - COLOURS) ** 2).sum(-1), -1)


def test_to_tensor_is_chw_float_in_unit_range():
    out = to_tensor(np.array([[[0, 128, 255]]], np.uint8))
    assert out.shape == (3, 1, 1) and out.dtype == torch.float32
    assert out.flatten().tolist() == pytest.approx([0, 128 / 255, 1])


def coordinate_maps(height: int, width: int) -> np.ndarray:
    """(2, H, W): each pixel centre's column and row as a fraction of the width and height."""
    rows, cols = np.mgrid[:height, :width].astype(np.float32) + 0.5
    return np.stack([cols / width, rows / height])


@pytest.mark.parametrize("seed", range(6))
def test_image_label_maps_and_float_maps_stay_aligned(seed: int):
    image, columns = coded_scene()
    rows = (np.arange(60) // 15)[:, None].repeat(80, 1).astype(np.uint8)  # four 15-pixel row bands
    transform = TrainTransform(crop_size=64, resize_long=(60, 140), flip=True, color_jitter=None)
    out = transform(image, np.random.default_rng(seed), labels={"columns": columns, "rows": rows},
                    maps={"coords": coordinate_maps(60, 80)})
    assert set(out) == {"image", "columns", "rows", "coords"}
    assert out["image"].shape == (3, 64, 64) and out["image"].dtype == torch.float32
    assert out["columns"].shape == out["rows"].shape == (64, 64) and out["rows"].dtype == torch.int64
    assert out["coords"].shape == (2, 64, 64) and out["coords"].dtype == torch.float32
    inside = interior(out["columns"].numpy()) & interior(out["rows"].numpy())
    assert inside.sum() > 0.3 * 64 * 64
    assert np.array_equal(decoded_labels(out["image"])[inside], out["columns"].numpy()[inside])
    band = np.floor(out["coords"].numpy() * 4).astype(np.int64)  # 4 bands across and down
    assert np.array_equal(band[0][inside], out["columns"].numpy()[inside])
    assert np.array_equal(band[1][inside], out["rows"].numpy()[inside])


def test_flip_mirrors_image_and_mask_together():
    image, mask = coded_scene(64, 80)
    transform = TrainTransform(crop_size=80, resize_long=(80, 80), flip=True, color_jitter=None)
    flips = set()
    for seed in range(12):
        out = transform(image, np.random.default_rng(seed), labels={"mask": mask})
        rows = out["mask"].numpy()[40]  # a row below the void corner, inside the image
        valid = rows != IGNORE
        flipped = rows[valid][0] == 3
        flips.add(bool(flipped))
        assert rows[valid][0] == (3 if flipped else 0) and rows[valid][-1] == (0 if flipped else 3)
        assert decoded_labels(out["image"])[40][valid][0] == rows[valid][0]
    assert flips == {True, False}


def test_crop_pads_labels_with_ignore_image_with_mean_and_maps_with_zero():
    image, mask = coded_scene(30, 40)
    cams = np.ones((2, 15, 20), np.float16)  # CAMs at half resolution are resized too
    transform = TrainTransform(crop_size=64, resize_long=(40, 40), flip=False, color_jitter=None)
    out = transform(image, np.random.default_rng(0), labels={"mask": mask, "seeds": np.zeros_like(mask)},
                    maps={"cams": cams, "saliency": np.ones((1, 30, 40), np.float32)})
    inside = torch.zeros(64, 64, dtype=torch.bool)
    rows, cols = np.nonzero(out["cams"][0].numpy())
    inside[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    assert inside.sum() == 30 * 40 and out["cams"].shape == (2, 64, 64)
    for name in ("cams", "saliency"):
        assert torch.all(out[name][:, inside] == 1) and torch.all(out[name][:, ~inside] == 0)
    assert torch.all(out["mask"][~inside] == IGNORE) and torch.all(out["seeds"][~inside] == IGNORE)
    assert torch.all(out["seeds"][inside] == 0)
    assert torch.allclose(out["image"][:, ~inside].T, torch.tensor(IMAGE_PAD))


def test_same_seed_same_output_and_jitter_keeps_range():
    image, mask = coded_scene()
    transform = TrainTransform(crop_size=48, resize_long=(50, 100), flip=True,
                               color_jitter=(0.3, 0.3, 0.3, 0.1))
    sources = {"labels": {"mask": mask}, "maps": {"coords": coordinate_maps(60, 80)}}
    first = transform(image, np.random.default_rng(5), **sources)
    second = transform(image, np.random.default_rng(5), **sources)
    assert all(torch.equal(first[name], second[name]) for name in ("image", "mask", "coords"))
    assert torch.equal(transform(image, np.random.default_rng(5))["image"], first["image"])  # same draws
    assert first["image"].min() >= 0 and first["image"].max() <= 1
    assert set(transform(image, np.random.default_rng(5))) == {"image"}


@pytest.mark.parametrize("op, factor", [(0, 1.3), (1, 0.7), (2, 1.25), (3, 0.08), (3, -0.1)])
def test_jitter_matches_torchvision_colour_operations(op: int, factor: float):
    functional = pytest.importorskip("torchvision.transforms.v2.functional")
    from PIL import Image

    from wsss.data.transforms import _JITTER_OPS

    reference = (functional.adjust_brightness, functional.adjust_contrast,
                 functional.adjust_saturation, functional.adjust_hue)[op]
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    assert np.array_equal(np.asarray(_JITTER_OPS[op](image, factor)), np.asarray(reference(image, factor)))
