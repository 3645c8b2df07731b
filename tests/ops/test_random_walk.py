import pytest
import torch
import torch.nn.functional as F

from wsss.ops.affinity import affinity_from_features, neighbor_offsets
from wsss.ops.random_walk import background_cam, dense_random_walk, random_walk


def smooth_affinities(b: int, h: int, w: int, offsets, seed: int = 0) -> torch.Tensor:
    """(B, P, H, W) affinities from a smooth random feature map, as a trained net would give."""
    gen = torch.Generator().manual_seed(seed)
    feats = F.avg_pool2d(torch.randn(b, 8, h + 4, w + 4, generator=gen), 5, 1) * 4
    return affinity_from_features(feats, offsets)


def test_sparse_matches_dense_reference_float64():
    offsets = neighbor_offsets(3)
    aff = smooth_affinities(1, 12, 12, offsets)[0].double()
    cams = torch.rand(4, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for steps in (1, 8, 256):
        sparse = random_walk(cams, aff, offsets, beta=8, steps=steps)
        dense = dense_random_walk(cams, aff, offsets, beta=8, steps=steps)
        assert sparse.shape == cams.shape
        assert (sparse - dense).abs().max() < 1e-4
    assert (sparse - cams).abs().max() > 1e-2  # it did propagate


def test_one_step_all_ones_is_local_box_average():
    offsets = neighbor_offsets(2)  # distance < 2: the 3x3 window
    cams = torch.rand(3, 6, 7, dtype=torch.float64)
    aff = torch.ones(len(offsets), 6, 7, dtype=torch.float64)
    out = random_walk(cams, aff, offsets, beta=8, steps=1)
    box = F.avg_pool2d(cams[None], 3, stride=1, padding=1, count_include_pad=False)[0]
    assert torch.allclose(out, box)


def test_normalisation_and_mass():
    offsets = neighbor_offsets(3)
    aff = smooth_affinities(1, 9, 10, offsets)[0].double()
    ones = torch.ones(2, 9, 10, dtype=torch.float64)
    assert torch.allclose(random_walk(ones, aff, offsets, steps=32), ones)
    cams = torch.rand(2, 9, 10, dtype=torch.float64)
    out = random_walk(cams, aff, offsets, steps=32)
    assert out.min() >= cams.min() - 1e-12 and out.max() <= cams.max() + 1e-12
    # With all-ones affinity the degree is the in-map disc size; sum_i d_i x_i is conserved.
    flat = torch.ones(len(offsets), 9, 10, dtype=torch.float64)
    degree = _disc_counts(9, 10, 3)
    out = random_walk(cams, flat, offsets, steps=5)
    assert torch.allclose((degree * out).sum((1, 2)), (degree * cams).sum((1, 2)))


def _disc_counts(h: int, w: int, r: int) -> torch.Tensor:
    """Number of in-map pixels at distance < r from each pixel (itself included)."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    count = torch.zeros(h, w, dtype=torch.float64)
    for dy in range(-r + 1, r):
        for dx in range(-r + 1, r):
            if dy * dy + dx * dx < r * r:
                count += ((ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)).double()
    return count


def test_batched_equals_single():
    offsets = neighbor_offsets(3)
    aff = smooth_affinities(2, 8, 11, offsets)
    cams = torch.rand(2, 5, 8, 11)
    out = random_walk(cams, aff, offsets, steps=16)
    assert out.shape == cams.shape
    for i in range(2):
        assert torch.allclose(out[i], random_walk(cams[i], aff[i], offsets, steps=16), atol=1e-6)
    dense = dense_random_walk(cams.double(), aff.double(), offsets, steps=16)
    assert (out.double() - dense).abs().max() < 1e-4


def test_invalid_pair_values_are_not_read():
    offsets = neighbor_offsets(3)
    aff = smooth_affinities(1, 7, 7, offsets)[0].double()
    garbage = aff.clone()
    garbage[aff == 0] = 0.9  # out-of-map entries: affinity_from_features leaves them 0
    cams = torch.rand(3, 7, 7, dtype=torch.float64)
    assert torch.equal(random_walk(cams, aff, offsets, steps=4), random_walk(cams, garbage, offsets, steps=4))


def test_dense_requires_power_of_two_steps():
    offsets = neighbor_offsets(2)
    with pytest.raises(ValueError, match="power of two"):
        dense_random_walk(torch.rand(1, 3, 3), torch.ones(4, 3, 3), offsets, steps=3)


def test_shape_mismatch_is_an_error():
    offsets = neighbor_offsets(2)
    with pytest.raises(ValueError, match="do not match"):
        random_walk(torch.rand(2, 4, 4), torch.ones(4, 5, 4), offsets)


def test_background_cam():
    cams = torch.tensor([[[0.0, 0.5]], [[0.2, 1.0]]])
    out = background_cam(cams, alpha=2)
    assert out.shape == (3, 1, 2)
    assert torch.allclose(out[0], torch.tensor([[0.64, 0.0]]))
    assert torch.equal(out[1:], cams)
    assert background_cam(torch.rand(2, 3, 4, 5), 16).shape == (2, 4, 4, 5)
    assert torch.equal(background_cam(torch.zeros(0, 2, 2), 4), torch.ones(1, 2, 2))
