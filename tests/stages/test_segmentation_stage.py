import torch

from wsss.stages.segmentation import masked_cross_entropy


def test_cross_entropy_ignores_255_and_is_zero_when_nothing_is_labelled():
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 4, 4), 255)
    loss = masked_cross_entropy(logits, target)
    assert loss.item() == 0.0
    loss.backward()
    target[0, 0, 0] = 1
    assert masked_cross_entropy(logits, target).item() == torch.log(torch.tensor(3.0)).item()
