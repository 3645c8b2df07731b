"""Saliency as a second opinion on a label map."""
import numpy as np
import pytest

from wsss.ops.saliency import agree_with_saliency


def test_only_the_labels_saliency_agrees_with_are_kept():
    label = np.array([[0, 0, 2, 2, 255, 255]], np.uint8)
    saliency = np.array([[0.1, 0.9, 0.9, 0.1, 0.9, 0.1]], np.float32)
    out = agree_with_saliency(label, saliency, 0.5)
    # bg & not salient: bg; bg & salient: unknown; fg & salient: fg; fg & not salient: unknown; unknown stays
    assert out.tolist() == [[0, 255, 2, 255, 255, 255]]
    assert label.tolist() == [[0, 0, 2, 2, 255, 255]]  # the input is left alone


def test_a_map_of_another_size_is_refused():
    with pytest.raises(ValueError, match="differ in size"):
        agree_with_saliency(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.float32), 0.5)
