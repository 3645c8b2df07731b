"""The prototype method's localization maps: the CAM times the stretched prototype similarity."""
import torch

from wsss.methods.prototype.config import PrototypeConfig
from wsss.methods.prototype.localization import localize, stretch


def test_stretch_spans_each_map_from_0_to_1():
    sims = torch.tensor([[[[0.5, 0.7], [0.9, 0.6]]]])
    out = stretch(sims)
    assert torch.allclose(out, torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]]))


def test_the_map_is_the_cam_times_the_stretched_similarity_renormalised_and_background_constant():
    """One foreground class on a 1x4 strip: the CAM is high on the first three pixels, the prototypes
    recognise only the first two; the third pixel's score falls under the background's 0.25."""
    cams = torch.tensor([[[[1.0, 0.8, 0.9, 0.1]]]])
    sims = torch.tensor([[[[0.0, 0.0, 0.0, 0.0]], [[0.9, 0.8, 0.2, 0.1]]]])  # (1, C=2, 1, 4), background first
    seen = torch.ones(2, 4, dtype=torch.bool)
    loc = localize(cams, sims, torch.ones(1, 1), seen, PrototypeConfig(), True, (1, 4))
    product = torch.tensor([1.0, 0.8, 0.9, 0.1]) * (torch.tensor([0.9, 0.8, 0.2, 0.1]) - 0.1) / 0.8
    expected = product / product.max()
    assert torch.allclose(loc.scores[0, 1, 0], expected)
    assert torch.allclose(loc.scores[0, 0, 0], torch.full((4,), 0.25))
    assert loc.scores[0].argmax(0)[0].tolist() == [1, 1, 0, 0]


def test_a_class_without_prototypes_keeps_its_cam():
    cams = torch.tensor([[[[1.0, 0.5, 0.0, 0.2]]]])
    sims = torch.rand(1, 2, 1, 4)
    seen = torch.zeros(2, 4, dtype=torch.bool)
    loc = localize(cams, sims, torch.ones(1, 1), seen, PrototypeConfig(), True, (1, 4))
    assert torch.allclose(loc.scores[0, 1, 0], cams[0, 0, 0])
