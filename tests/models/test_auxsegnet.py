"""AuxSegNet's network: the cross-task affinity, its product with the predictions, chunked = dense."""
import torch
import torch.nn.functional as F

from wsss.models.auxsegnet import CrossTaskWeighting, row_blocks
from wsss.models.factory import create_model


def _rows_of(matrix):
    return lambda start, stop: matrix[:, start:stop]


def _row_softmax(n, seed):
    return torch.softmax(torch.randn(1, n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), -1)


def test_with_even_weights_the_cross_affinity_rows_sum_to_1_and_p_ref_is_a_ct_times_p():
    weighting = CrossTaskWeighting().double()
    torch.nn.init.zeros_(weighting.mix.weight)
    torch.nn.init.zeros_(weighting.mix.bias)  # softmax of equal scores: w1 = w2 = 1/2 everywhere
    a_seg = torch.tensor([[[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 0.5, 0.5]]], dtype=torch.float64)
    a_sal = torch.tensor([[[0, 1.0, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 0, 1], [0.25, 0.25, 0.25, 0.25]]],
                         dtype=torch.float64)
    a_ct = weighting.block(_rows_of(a_seg), _rows_of(a_sal), 0, 4, 4)
    assert torch.allclose(a_ct, (a_seg + a_sal) / 2)
    assert torch.allclose(a_ct.sum(-1), torch.ones(1, 4, dtype=torch.float64))
    p = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]], [[[0.0, 1.0], [0.0, 1.0]]]], dtype=torch.float64)
    p = p.permute(1, 0, 2, 3)  # (1, 2 maps, 2, 2): N = 4 pixels
    p_ref = weighting.product(_rows_of(a_seg), _rows_of(a_sal), p, chunk=None)
    expected = (a_ct[0] @ p.flatten(2)[0].T).T.reshape(p.shape)
    assert torch.allclose(p_ref, expected)
    assert torch.allclose(p_ref[0, 0].flatten(), torch.tensor([1.5, 1.5, 3.5, 3.0], dtype=torch.float64))


def test_learned_weights_match_a_dense_reference_and_chunks_match_the_whole():
    torch.manual_seed(0)
    weighting = CrossTaskWeighting().double()
    n = 12
    a_seg, a_sal = _row_softmax(n, 1), _row_softmax(n, 2)
    stack = torch.stack([a_seg, a_sal], 1)
    w = torch.softmax(weighting.mix(F.relu(F.conv2d(stack, weighting.conv.weight, padding=1))), 1)
    reference = w[:, 0] * a_seg + w[:, 1] * a_sal
    maps = torch.randn(1, 3, 3, 4, dtype=torch.float64)
    dense = weighting.product(_rows_of(a_seg), _rows_of(a_sal), maps, chunk=None)
    assert torch.allclose(dense, (reference @ maps.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(maps.shape))
    for chunk in (1, 5, 12):
        chunked = weighting.product(_rows_of(a_seg), _rows_of(a_sal), maps, chunk=chunk)
        assert torch.allclose(chunked, dense, atol=1e-12)


def test_row_blocks_cover_every_row_once():
    assert row_blocks(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert row_blocks(7, None) == [(0, 7)]


def test_the_whole_network_chunked_equals_dense_and_trains():
    torch.manual_seed(0)
    net = create_model("auxsegnet", backbone="tiny", output_stride=8, pretrained=False, num_classes=4, channels=8)
    x = torch.rand(2, 3, 48, 56)
    net.eval()
    with torch.no_grad():
        dense, chunked = net(x, propagate_cams=True), net(x, chunk=5, propagate_cams=True)
    assert dense["logits"].shape == (2, 3) and dense["seg_ref"].shape == (2, 4, 6, 7)
    assert dense["sal_ref"].shape == (2, 1, 6, 7) and dense["cams_ref"].shape == (2, 3, 6, 7)
    for key in dense:
        assert torch.allclose(dense[key], chunked[key], atol=1e-5), key
    net.train()
    out = net(x)
    sum(v.float().mean() for v in out.values()).backward()
    assert net.cross.conv.weight.grad is not None and net.seg.affinity.theta.weight.grad is not None


def test_round_one_can_start_from_a_trained_cam_network():
    import pytest

    cam_net = create_model("cam", backbone="tiny", output_stride=16, pretrained=False, num_classes=3)
    net = create_model("auxsegnet", backbone="tiny", output_stride=8, pretrained=False, num_classes=4, channels=8)
    net.start_from_classifier(cam_net.state_dict())  # strides differ, weights do not
    assert torch.equal(net.classifier.weight, cam_net.classifier.weight)
    assert torch.equal(net.backbone.stem[0].weight, cam_net.backbone.stem[0].weight)
    other = create_model("segmentation", backbone="tiny", output_stride=8, pretrained=False, num_classes=4)
    with pytest.raises(ValueError, match="not the weights of a CAM network"):
        net.start_from_classifier(other.state_dict())


def test_other_maps_are_propagated_like_the_own_cams():
    torch.manual_seed(0)
    net = create_model("auxsegnet", backbone="tiny", output_stride=8, pretrained=False, num_classes=4,
                       channels=8).eval()
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        own = net(x, propagate_cams=True)
        cams = torch.relu(own["cams"])
        cams = cams / (cams.amax((2, 3), keepdim=True) + 1e-5)
        other = net(x, maps=cams, chunk=7)
    assert torch.allclose(other["maps_ref"], own["cams_ref"], atol=1e-6)


def test_the_cams_method_is_the_relud_cams_of_the_forward_pass():
    torch.manual_seed(0)
    net = create_model("auxsegnet", backbone="tiny", output_stride=8, pretrained=False, num_classes=4, channels=8).eval()
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad():
        assert torch.allclose(net.cams(x), F.relu(net(x)["cams"]))
