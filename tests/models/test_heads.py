"""Heads on backbone features: output shapes, resizing of levels, DeepLab dilations."""
import math

import pytest
import torch

from wsss.models.heads import AffinityEmbeddingHead, ASPPHead, LargeFOVHead


def test_affinity_embedding_head_concatenates_levels_at_the_first_ones_size():
    head = AffinityEmbeddingHead([16, 32, 64], dims=(4, 8, 12))
    levels = [torch.rand(2, 16, 8, 8), torch.rand(2, 32, 4, 4), torch.rand(2, 64, 4, 4, requires_grad=True)]
    out = head(levels)
    assert out.shape == (2, 24, 8, 8)
    assert (out >= -1).all()  # ELU
    out.square().sum().backward()
    assert levels[2].grad.abs().sum() > 0  # the resized deepest level reaches the embedding
    assert all(conv.weight.grad.abs().sum() > 0 for conv in head.reduce)


def test_affinity_embedding_head_is_per_pixel_when_levels_share_a_size():
    head = AffinityEmbeddingHead([16, 32], dims=(4, 8))
    levels = [torch.rand(1, 16, 5, 5), torch.rand(1, 32, 5, 5)]
    flipped = head([f.flip(-1) for f in levels])
    torch.testing.assert_close(flipped, head(levels).flip(-1))


@pytest.mark.parametrize("head", [LargeFOVHead(32, 5, channels=16, rate=6),
                                  ASPPHead(32, 5, channels=8, rates=(1, 2, 3))])
def test_logit_heads_keep_the_size(head):
    assert head(torch.rand(2, 32, 9, 7)).shape == (2, 5, 9, 7)


def test_aspp_sums_its_branches_over_the_normalised_projection():
    head = ASPPHead(8, 3, channels=4, rates=(2, 4)).eval()
    x = torch.rand(1, 8, 6, 6)
    projected = head.project(x)
    assert projected.shape == (1, 4, 6, 6) and (projected >= 0).all()
    torch.testing.assert_close(head(x), head.branches[0](projected) + head.branches[1](projected))
    assert [b.dilation for b in head.branches] == [(2, 2), (4, 4)]


def test_aspp_projection_makes_the_branch_input_independent_of_the_feature_scale():
    head = ASPPHead(8, 3, channels=4, rates=(1,)).train()
    x = torch.randn(4, 8, 6, 6)
    torch.testing.assert_close(head(100 * x), head(x), rtol=1e-3, atol=1e-4)  # BatchNorm absorbs the scale


def test_affinity_embedding_init_gain_scales_the_mixing_conv():
    torch.manual_seed(0)
    plain = AffinityEmbeddingHead([8, 16, 32], (8, 8, 8))
    torch.manual_seed(0)
    psa = AffinityEmbeddingHead([8, 16, 32], (8, 8, 8), init_gain=4.0)
    bound = math.sqrt(6 / (24 + 24))  # xavier uniform, gain 1, 24 -> 24 channels
    assert plain.mix.weight.abs().max() <= bound < psa.mix.weight.abs().max() <= 4 * bound
    assert torch.allclose(psa.mix.weight, 4 * plain.mix.weight)
