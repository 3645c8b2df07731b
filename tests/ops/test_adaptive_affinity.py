"""The adaptive affinity loss against a direct per-pair loop over the same definition."""
import itertools
import math

import torch

from wsss.ops.adaptive_affinity import adaptive_affinity_loss


def _reference(probs, labels, conf, num_classes, d=4, margin=3.0, edge_weight=2.0):
    n, c, h, w = probs.shape
    bg, obj, edge = [], [], []
    for b, y, x in itertools.product(range(n), range(h), range(w)):
        for dy, dx in itertools.product((-d, 0, d), repeat=2):
            yj, xj = y + dy, x + dx
            if (dy, dx) == (0, 0) or not (0 <= yj < h and 0 <= xj < w):
                continue
            li, lj = int(labels[b, y, x]), int(labels[b, yj, xj])
            if li >= num_classes or lj >= num_classes:
                continue
            kl = 0.0
            for k in range(c):
                raw_i, raw_j = float(probs[b, k, y, x]), float(probs[b, k, yj, xj])
                pi, pj = min(max(raw_i, 1e-4), 1.0), min(max(raw_j, 1e-4), 1.0)
                qi, qj = min(max(1 - raw_i, 1e-4), 1.0), min(max(1 - raw_j, 1e-4), 1.0)
                kl += pj * math.log(pj / pi) + qj * math.log(qj / qi)
            weight = max(float(conf[b, y, x]), float(conf[b, yj, xj]))
            if li != lj:
                edge.append(max(0.0, margin * weight - kl))
            elif li == 0:
                bg.append(weight * kl)
            else:
                obj.append(weight * kl)
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    if edge:
        return sum(mean(part) for part in (bg, obj) if part) + edge_weight * mean(edge)
    return mean(bg) + mean(obj) if bg and obj else 0.0


def test_equals_a_per_pair_loop_in_float64():
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(2, 3, 9, 9, generator=gen, dtype=torch.float64), 1)
    labels = torch.randint(0, 3, (2, 9, 9), generator=gen)
    labels[0, :4, :4] = 0  # a background patch and an object patch: every set has pairs
    labels[1, 4:, 4:] = 2
    labels[torch.rand(2, 9, 9, generator=gen) < 0.15] = 255  # some ignored pixels
    conf = torch.rand(2, 9, 9, generator=gen, dtype=torch.float64)
    loss = adaptive_affinity_loss(probs, labels, conf, num_classes=3)
    expected = _reference(probs, labels, conf, num_classes=3)
    assert abs(loss.item() - float(expected)) < 1e-12


def test_is_zero_where_every_set_is_empty():
    probs = torch.softmax(torch.randn(1, 3, 9, 9, dtype=torch.float64), 1).requires_grad_()
    conf = torch.ones(1, 9, 9, dtype=torch.float64)
    all_ignored = torch.full((1, 9, 9), 255)
    loss = adaptive_affinity_loss(probs, all_ignored, conf, num_classes=3)
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph
    tiny = adaptive_affinity_loss(probs[..., :4, :4], torch.zeros(1, 4, 4, dtype=torch.long), conf[..., :4, :4],
                                  num_classes=3)
    assert tiny.item() == 0.0  # a 4x4 map has no pair at distance 4


def test_without_edges_it_needs_both_kinds_of_same_label_pairs():
    probs = torch.softmax(torch.randn(1, 3, 9, 9, dtype=torch.float64), 1)
    conf = torch.ones(1, 9, 9, dtype=torch.float64)
    only_background = torch.zeros(1, 9, 9, dtype=torch.long)
    assert adaptive_affinity_loss(probs, only_background, conf, num_classes=3).item() == 0.0
    two_images = torch.stack([torch.zeros(9, 9, dtype=torch.long), torch.full((9, 9), 2)])
    both = adaptive_affinity_loss(probs.repeat(2, 1, 1, 1), two_images, conf.repeat(2, 1, 1), num_classes=3)
    assert both.item() > 0
