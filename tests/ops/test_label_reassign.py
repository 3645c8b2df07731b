"""Label reassignment: centroids of confident pixels, reassignment by margin, the centroid loss."""
import pytest
import torch

from wsss.ops.label_reassign import centroid_loss, class_centroids, reassign_labels

E0, E1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def _embed(rows):
    """(1, 2, 1, W) unit embeddings from a list of 2-vectors."""
    return torch.stack(rows, 1)[None, :, None, :]


def test_a_pixel_whose_embedding_sits_on_another_class_is_relabelled_or_ignored():
    embed = _embed([E0, E0, E1, E1, E0])  # the last pixel says class 0 ...
    labels = torch.tensor([[[0, 0, 1, 1, 1]]])  # ... its pseudo label says 1
    confident = torch.tensor([[[True, True, True, True, False]]])
    centroids, found = class_centroids(embed, labels, confident, num_classes=3)
    assert found.tolist() == [True, True, False]
    assert torch.allclose(centroids[:2], torch.stack([E0, E1]))
    allowed = torch.tensor([[True, True, True]])
    new, changed = reassign_labels(embed, labels, allowed, centroids, found, margin=0.5)
    assert new.tolist() == [[[0, 0, 1, 1, 0]]] and changed.sum() == 1
    ignored, _ = reassign_labels(embed, labels, allowed, centroids, found, margin=0.5, mode="ignore")
    assert ignored.tolist() == [[[0, 0, 1, 1, 255]]]
    kept, _ = reassign_labels(embed, labels, allowed, centroids, found, margin=1.5)  # cos gap is 1
    assert kept.tolist() == labels.tolist()
    not_allowed, _ = reassign_labels(embed, labels, torch.tensor([[False, True, True]]), centroids, found, margin=0.5)
    assert not_allowed.tolist() == labels.tolist()  # class 0 is not among this image's classes
    with pytest.raises(ValueError, match="reassign mode"):
        reassign_labels(embed, labels, allowed, centroids, found, margin=0.5, mode="drop")


def test_the_centroid_loss_is_zero_on_the_centroids_and_ignores_unlabelled_pixels():
    embed = _embed([E0, E1, E1])
    labels = torch.tensor([[[0, 1, 255]]])
    centroids, found = class_centroids(embed, labels, torch.ones(1, 1, 3, dtype=torch.bool), num_classes=2)
    assert centroid_loss(embed, labels, centroids, found).item() == pytest.approx(0.0, abs=1e-7)
    swapped = torch.tensor([[[1, 0, 255]]])
    assert centroid_loss(embed, swapped, centroids, found).item() == pytest.approx(1.0)
    assert centroid_loss(embed, torch.full((1, 1, 3), 255), centroids, found).item() == 0.0


def test_the_rectification_rule_on_a_4x4_example():
    from wsss.ops.label_reassign import reassign_by_similarity

    sims = torch.zeros(1, 3, 4, 4)
    sims[0, 0] = 0.5  # background similarity everywhere
    sims[0, 1, :, :2] = 0.9  # class 1 on the left half
    sims[0, 2, :, 2:] = 0.6  # class 2 on the right half (0.1 above background)
    labels = torch.tensor([[[1, 1, 2, 2],
                            [1, 1, 1, 2],  # (1, 2): labelled 1 but class 2 wins by 0.6 - 0 = 0.6
                            [0, 1, 0, 2],  # (2, 0): labelled 0, class 1 wins by 0.4; (2, 2): 2 wins by 0.1
                            [255, 1, 2, 2]]])
    usable = torch.tensor([[True, True, True]])
    new, changed = reassign_by_similarity(sims, labels, usable, margin=0.2)
    assert new.tolist() == [[[1, 1, 2, 2],
                             [1, 1, 2, 2],
                             [1, 1, 0, 2],
                             [255, 1, 2, 2]]]
    assert changed.sum() == 2
    ignored, _ = reassign_by_similarity(sims, labels, usable, margin=0.2, mode="ignore")
    assert ignored[0, 1, 2] == 255 and ignored[0, 2, 0] == 255 and ignored[0, 2, 2] == 0
