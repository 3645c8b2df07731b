"""What every backbone shares: the ``Backbone`` interface, input normalisation, stride rules.

Kept apart from the registry in ``backbones`` so that backbone modules (``resnet38``) and the
registry that lists them both import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NOMINAL_STRIDES = (4, 8, 16, 32)
OUTPUT_STRIDES = (8, 16, 32)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; the statistics are buffers left out of the state dict."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Backbone(nn.Module):
    """Feature extractor: (B,3,H,W) RGB in [0,1] -> list of (B, channels[i], H/strides[i], W/strides[i])."""

    channels: list[int]
    strides: list[int]

    def __init__(
        self, channels: Sequence[int], strides: Sequence[int], mean: Sequence[float], std: Sequence[float]
    ) -> None:
        super().__init__()
        self.channels = list(channels)
        self.strides = list(strides)
        self.normalize = Normalize(mean, std)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.forward_features(self.normalize(x))

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """The feature maps of a normalised input, shallow -> deep."""
        raise NotImplementedError

    def adapt_state_dict(self, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Rename a weight file's keys to this module's; the file's own format by default."""
        return dict(state_dict)


def check_output_stride(output_stride: int, allowed: Sequence[int] = OUTPUT_STRIDES) -> None:
    """Raise ValueError naming the allowed values unless ``output_stride`` is one of them."""
    if output_stride not in allowed:
        raise ValueError(f"output_stride must be one of {list(allowed)}, got {output_stride!r}")


def level_strides(output_stride: int) -> list[int]:
    """True reductions of the four levels when the stages past ``output_stride`` are dilated."""
    return [min(stride, output_stride) for stride in NOMINAL_STRIDES]
