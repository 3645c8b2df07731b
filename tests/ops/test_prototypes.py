"""Prototypes: the momentum update on a hand-made batch, similarity maps, the contrastive loss."""
import torch
import torch.nn.functional as F

from wsss.ops.prototypes import contrastive_loss, momentum_update, prototype_sums, similarity_maps


def test_the_momentum_update_is_exact_on_a_hand_made_batch():
    prototypes = torch.tensor([[[1.0, 0.0], [0.0, 1.0]],    # class 0: two prototypes
                               [[0.6, 0.8], [0.8, -0.6]]])  # class 1
    seen = torch.tensor([[True, True], [False, True]])
    feats = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    labels = torch.tensor([0, 0, 0, 1])
    sums, counts = prototype_sums(feats, labels, prototypes)
    assert counts.tolist() == [[2, 1], [1, 0]]  # (0.8, 0.6) is nearer (1, 0) than (0, 1)
    momentum_update(prototypes, seen, sums, counts, momentum=0.9)
    mean = F.normalize(torch.tensor([1.8, 0.6]) / 2, dim=0)
    expected = F.normalize(0.9 * torch.tensor([1.0, 0.0]) + 0.1 * mean, dim=0)
    assert torch.allclose(prototypes[0, 0], expected)
    assert torch.allclose(prototypes[0, 1], torch.tensor([0.0, 1.0]))  # the same direction stays
    assert torch.allclose(prototypes[1, 0], torch.tensor([0.6, 0.8]))  # never seen: takes the mean
    assert torch.allclose(prototypes[1, 1], torch.tensor([0.8, -0.6]))  # no pixels: unchanged
    assert seen.all()


def test_similarity_maps_have_one_map_per_class_in_minus_1_to_1():
    embed = F.normalize(torch.randn(2, 8, 5, 6), dim=1)
    prototypes = F.normalize(torch.randn(4, 3, 8), dim=-1)
    sims = similarity_maps(embed, prototypes)
    assert sims.shape == (2, 4, 5, 6) and sims.min() >= -1 - 1e-6 and sims.max() <= 1 + 1e-6
    embed[0, :, 0, 0] = prototypes[2, 1]
    assert torch.isclose(similarity_maps(embed, prototypes)[0, 2, 0, 0], torch.tensor(1.0))


def test_the_contrastive_loss_prefers_the_own_class_and_skips_ignored_pixels():
    prototypes = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    embed = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T[None, :, None, :]  # (1, 2, 1, 2)
    right = contrastive_loss(embed, torch.tensor([[[0, 1]]]), prototypes, temperature=0.1)
    wrong = contrastive_loss(embed, torch.tensor([[[1, 0]]]), prototypes, temperature=0.1)
    assert right < 1e-3 < 5 < wrong
    assert contrastive_loss(embed, torch.full((1, 1, 2), 255), prototypes, 0.1).item() == 0.0
