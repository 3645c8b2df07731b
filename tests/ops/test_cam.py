import numpy as np
import torch

from wsss.ops.cam import cam_argmax, cams_to_label, multiscale_maps, normalize_cams, with_background


def test_multiscale_sums_scales_and_undoes_the_flip():
    image = torch.zeros(3, 8, 12)
    image[:, :, :3] = 1.0  # bright left strip

    def cam_fn(x):  # a "CAM" that is the brightness itself: a flipped copy must be flipped back
        return x.mean(1, keepdim=True)

    cams = multiscale_maps(cam_fn, image, scales=(1.0, 0.5), flip=True)
    assert cams.shape == (1, 8, 12)
    assert cams[0, :, 0].min() > 3.5  # 2 scales x 2 flips, each ~1 at the left
    assert cams[0, :, -1].max() < 1e-6


def test_normalize_divides_by_each_class_max():
    cams = torch.tensor([[[0.0, 2.0], [1.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]])
    out = normalize_cams(cams)
    assert torch.allclose(out[0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]))
    assert torch.equal(out[1], torch.zeros(2, 2))  # an all-zero map stays zero, no NaN


def test_label_with_background_threshold_maps_to_mask_values():
    cams = np.array([[[0.9, 0.1], [0.4, 0.0]], [[0.2, 0.8], [0.1, 0.0]]], np.float32)
    label = cams_to_label(cams, mask_values=[3, 7], bg_threshold=0.3)
    assert label.tolist() == [[3, 7], [3, 0]]
    assert cams_to_label(cams, [3, 7], bg_threshold=0.4).tolist() == [[3, 7], [0, 0]]  # ties go to bg


def test_label_without_background_is_argmax_of_present_classes():
    cams = np.array([[[0.9, 0.1]], [[0.2, 0.8]]], np.float32)
    assert cams_to_label(cams, mask_values=[0, 5], bg_threshold=None).tolist() == [[0, 5]]
    assert cams_to_label(np.zeros((0, 1, 2)), [], bg_threshold=0.2).tolist() == [[0, 0]]
    assert cams_to_label(np.zeros((0, 1, 2)), [], bg_threshold=None).tolist() == [[255, 255]]


def test_sweep_helpers_agree_with_cams_to_label():
    cams = np.random.default_rng(0).random((3, 5, 6)).astype(np.float32)
    peak, label = cam_argmax(cams, [1, 4, 9])
    for t in (0.0, 0.3, 0.7):
        assert np.array_equal(with_background(peak, label, t), cams_to_label(cams, [1, 4, 9], t))
