import sys

import numpy as np
import pytest
import torch

from wsss.ops.crf import (
    CRF_PRESETS,
    CRFParams,
    crf_available,
    crf_params,
    dense_crf,
    pixel_adaptive_refine,
    refine,
)


def two_colour_scene(seed: int = 0, h: int = 40, w: int = 60):
    """Red left half, blue right half; class 1 = right half; probabilities noisy around 0.5."""
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), np.float64)
    image[:, : w // 2] = (200, 40, 40)
    image[:, w // 2:] = (40, 40, 200)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    truth = np.zeros((h, w), np.int64)
    truth[:, w // 2:] = 1
    p1 = np.clip(np.where(truth == 1, 0.65, 0.35) + rng.normal(0, 0.25, (h, w)), 0.02, 0.98)
    return image, np.stack([1 - p1, p1]).astype(np.float32), truth


def accuracy(probs: np.ndarray, truth: np.ndarray) -> float:
    return float((probs.argmax(0) == truth).mean())


@pytest.fixture
def no_pydensecrf(monkeypatch):
    for name in ("pydensecrf", "pydensecrf.densecrf", "pydensecrf.utils"):
        monkeypatch.setitem(sys.modules, name, None)


def test_presets():
    assert CRF_PRESETS["psa"] == CRFParams(3, 3, 80, 13, 10, 10)
    assert CRF_PRESETS["auxsegnet"] == CRFParams(3, 3, 60, 5, 5, 1)
    deeplab = CRF_PRESETS["deeplab"]
    assert (deeplab.gaussian_sxy, deeplab.gaussian_compat) == (1, 3)
    assert (deeplab.bilateral_sxy, deeplab.bilateral_srgb, deeplab.bilateral_compat) == (67, 3, 4)
    assert crf_params("psa") is CRF_PRESETS["psa"] and crf_params(deeplab) is deeplab
    with pytest.raises(KeyError, match="deeplab"):
        crf_params("nope")
    with pytest.raises(AttributeError):
        deeplab.iterations = 3


def test_dense_crf_sharpens_along_colour_edge():
    pytest.importorskip("pydensecrf")
    image, probs, truth = two_colour_scene()
    out = dense_crf(image, probs, "psa")
    assert out.shape == probs.shape and out.dtype == np.float32
    assert np.allclose(out.sum(0), 1, atol=1e-4)
    assert accuracy(probs, truth) < 0.8
    assert accuracy(out, truth) > 0.98


def test_dense_crf_rejects_mismatched_image():
    pytest.importorskip("pydensecrf")
    image, probs, _ = two_colour_scene()
    with pytest.raises(ValueError, match="does not match"):
        dense_crf(image[:-1], probs, "deeplab")


def test_missing_pydensecrf_names_the_extra(no_pydensecrf):
    assert not crf_available()
    image, probs, _ = two_colour_scene()
    with pytest.raises(ImportError, match=r'pip install "wsss\[crf\]"'):
        dense_crf(image, probs, "psa")


def test_par_is_a_distribution_and_improves_noisy_map():
    image, probs, truth = two_colour_scene()
    img = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    out = pixel_adaptive_refine(img, torch.from_numpy(probs)[None])
    assert out.shape == (1, *probs.shape)
    assert torch.allclose(out.sum(1), torch.ones(1), atol=1e-5) and (out >= 0).all()
    assert accuracy(out[0].numpy(), truth) > accuracy(probs, truth) + 0.15


def test_par_batched_and_mismatch():
    image, probs, _ = two_colour_scene(h=20, w=24)
    img = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    batch = pixel_adaptive_refine(img.repeat(2, 1, 1, 1), torch.from_numpy(probs)[None].repeat(2, 1, 1, 1),
                                  dilations=(1, 2), iterations=3)
    assert torch.allclose(batch[0], batch[1])
    with pytest.raises(ValueError, match="do not match"):
        pixel_adaptive_refine(img, torch.from_numpy(probs)[None, :, :-1])


def test_refine_reports_what_ran(no_pydensecrf):
    image, probs, truth = two_colour_scene()
    out, name = refine(image, probs, "auto")
    assert name == "par" and accuracy(out, truth) > 0.9
    out, name = refine(image, probs, "none")
    assert name == "none" and np.array_equal(out, probs)
    with pytest.raises(ImportError, match="pydensecrf2"):
        refine(image, probs, "crf")
    with pytest.raises(ValueError, match="par"):
        refine(image, probs, "bilateral")


def test_refine_auto_uses_crf_when_installed():
    pytest.importorskip("pydensecrf")
    image, probs, truth = two_colour_scene()
    out, name = refine(image, probs, "auto", crf="deeplab")
    assert name == "crf" and out.shape == probs.shape and accuracy(out, truth) > 0.95
