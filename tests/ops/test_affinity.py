import math

import pytest
import torch

from wsss.ops.affinity import (
    affinity_from_features,
    affinity_labels,
    affinity_loss,
    neighbor_offsets,
    valid_pairs,
)


def test_neighbor_offsets_radius5_matches_psa():
    offsets = neighbor_offsets(5)
    assert len(offsets) == 34
    assert offsets[:4] == [(0, 1), (0, 2), (0, 3), (0, 4)]
    assert offsets[4:13] == [(1, dx) for dx in range(-4, 5)]
    assert offsets[-5:] == [(4, dx) for dx in range(-2, 3)]
    disc = {(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5) if 0 < dy * dy + dx * dx < 25}
    half = set(offsets)
    assert len(half) == 34
    assert half | {(-dy, -dx) for dy, dx in half} == disc
    assert not half & {(-dy, -dx) for dy, dx in half}


def test_neighbor_offsets_radius2():
    assert neighbor_offsets(2) == [(0, 1), (1, -1), (1, 0), (1, 1)]
    assert neighbor_offsets(1) == []


def test_valid_pairs_at_borders():
    valid = valid_pairs(3, 4, [(0, 1), (1, -1), (2, 0), (3, 0)])
    assert valid.shape == (4, 3, 4)
    assert valid[0, :, :3].all() and not valid[0, :, 3].any()
    assert valid[1, :2, 1:].all() and not valid[1, :, 0].any() and not valid[1, 2].any()
    assert valid[2, 0].all() and not valid[2, 1:].any()
    assert not valid[3].any()


def test_valid_pairs_count_every_unordered_pair_once():
    h, w, r = 7, 9, 4
    n_pairs = sum(
        1
        for y in range(h) for x in range(w) for v in range(h) for u in range(w)
        if 0 < (y - v) ** 2 + (x - u) ** 2 < r * r
    ) // 2
    assert valid_pairs(h, w, neighbor_offsets(r)).sum().item() == n_pairs


def test_affinity_identical_features_is_one():
    feats = torch.randn(1, 5, 1, 1).expand(2, 5, 6, 7)
    offsets = neighbor_offsets(3)
    aff = affinity_from_features(feats, offsets)
    valid = valid_pairs(6, 7, offsets)
    assert aff.shape == (2, len(offsets), 6, 7)
    assert torch.allclose(aff[:, valid], torch.ones(()))
    assert (aff[:, ~valid] == 0).all()


def test_affinity_known_difference():
    feats = torch.zeros(1, 2, 2, 3)
    feats[0, :, :, 2] = torch.tensor([1.0, 3.0])[:, None]  # |diff| per channel 1 and 3: mean 2
    aff = affinity_from_features(feats, [(0, 1), (1, 0)])
    assert aff[0, 0, 0, 0] == pytest.approx(1.0)
    assert aff[0, 0, 1, 1] == pytest.approx(math.exp(-2))
    assert aff[0, 1, 0, 2] == pytest.approx(1.0)
    assert aff[0, 0, 0, 2] == 0 and aff[0, 1, 1, 0] == 0  # neighbour outside the map


def test_affinity_matches_naive_loop():
    feats = torch.randn(1, 4, 5, 6)
    offsets = neighbor_offsets(3)
    aff = affinity_from_features(feats, offsets)
    for k, (dy, dx) in enumerate(offsets):
        for y in range(5):
            for x in range(6):
                if 0 <= y + dy < 5 and 0 <= x + dx < 6:
                    expected = torch.exp(-(feats[0, :, y, x] - feats[0, :, y + dy, x + dx]).abs().mean())
                    assert aff[0, k, y, x] == pytest.approx(expected.item(), rel=1e-5)


SEEDS = torch.tensor([[
    [0, 0, 1, 1],
    [0, 255, 1, 2],
    [0, 0, 2, 2],
]])
OFFSETS_R2 = [(0, 1), (1, -1), (1, 0), (1, 1)]


def test_affinity_labels_hand_counts():
    bg, fg, neg = affinity_labels(SEEDS, neighbor_offsets(2))
    assert bg.shape == fg.shape == neg.shape == (1, 4, 3, 4)
    assert bg.sum((0, 2, 3)).tolist() == [2, 1, 2, 1]
    assert fg.sum((0, 2, 3)).tolist() == [2, 2, 2, 0]
    assert neg.sum((0, 2, 3)).tolist() == [3, 1, 2, 3]
    assert not (bg & fg).any() and not (bg & neg).any() and not (fg & neg).any()
    # 29 in-map pairs, 8 of them touch the ignored pixel (1, 1)
    assert (bg | fg | neg).sum() == 29 - 8


def test_affinity_labels_exclude_ignored_pixels():
    bg, fg, neg = affinity_labels(SEEDS, OFFSETS_R2)
    labelled = bg | fg | neg
    assert not labelled[0, :, 1, 1].any()  # pairs starting at the ignored pixel
    assert not labelled[0, 0, 1, 0] and not labelled[0, 2, 0, 1]  # pairs ending at it
    assert not labelled[0, 1, 0, 2] and not labelled[0, 3, 0, 0]


def test_affinity_labels_without_background():
    bg, fg, neg = affinity_labels(SEEDS, OFFSETS_R2, background=False)
    assert not bg.any()
    assert fg.sum() == 12 and neg.sum() == 9


def test_affinity_labels_custom_ignore_index():
    seeds = torch.tensor([[[1, -1, 1]]])
    bg, fg, neg = affinity_labels(seeds, [(0, 1), (0, 2)], ignore_index=-1)
    assert fg.sum() == 1 and fg[0, 1, 0, 0] and not neg.any() and not bg.any()


def test_affinity_loss_perfect_is_zero():
    bg, fg, neg = affinity_labels(SEEDS, OFFSETS_R2)
    aff = (bg | fg).float()
    total, terms = affinity_loss(aff, bg, fg, neg)
    assert total.item() == pytest.approx(0.0, abs=1e-4)
    assert set(terms) == {"bg_pos", "fg_pos", "neg"}


def test_affinity_loss_value_and_weights():
    bg, fg, neg = affinity_labels(SEEDS, OFFSETS_R2)
    aff = torch.full(bg.shape, 0.5)
    total, terms = affinity_loss(aff, bg, fg, neg)
    for term in terms.values():
        assert term.item() == pytest.approx(math.log(2), rel=1e-4)
    assert total.item() == pytest.approx(math.log(2), rel=1e-4)  # 1/4 + 1/4 + 1/2


def test_affinity_loss_empty_set_and_gradient():
    feats = torch.randn(1, 3, 3, 4, requires_grad=True)
    bg, fg, neg = affinity_labels(torch.full((1, 3, 4), 2), OFFSETS_R2)  # one class: fg only
    assert not bg.any() and not neg.any()
    aff = affinity_from_features(feats, OFFSETS_R2)
    total, terms = affinity_loss(aff, bg, fg, neg)
    assert torch.isfinite(total)
    assert terms["bg_pos"] == 0 and terms["neg"] == 0
    total.backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0


def test_affinity_loss_all_empty_is_zero():
    empty = torch.zeros(1, 4, 3, 4, dtype=torch.bool)
    aff = torch.rand(1, 4, 3, 4, requires_grad=True)
    total, _ = affinity_loss(aff, empty, empty, empty)
    total.backward()
    assert total.item() == 0 and (aff.grad == 0).all()
