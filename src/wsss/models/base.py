"""``TaskNet``: a backbone plus new layers, trained with two learning rates.

The backbone starts pretrained and learns at the base rate; the layers a network adds start
at random and learn ``head_lr_mult`` times faster (Ahn & Kwak 2018; DeepLab). Small batches make
BatchNorm statistics noisy, so a network may keep the backbone's BatchNorm frozen.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn


class TaskNet(nn.Module):
    """Base of the task networks: owns ``backbone``, ``param_groups`` and frozen BatchNorm.

    Subclasses name their new layers in ``new_layers``. ``arch`` holds the constructor
    arguments when ``wsss.models.factory`` built the network, so a checkpoint can rebuild it.
    """

    arch: dict[str, Any] | None = None

    def __init__(self, backbone: nn.Module, *, freeze_bn: bool = False, frozen: Sequence[str] = ()) -> None:
        super().__init__()
        self.backbone = backbone
        self.freeze_bn = freeze_bn
        if freeze_bn:
            freeze_batchnorm(self.backbone)
        for name in frozen:  # e.g. PSA's ResNet-38 keeps conv1a and b2 at their ImageNet weights
            for p in _submodule(backbone, name).parameters():
                p.requires_grad_(False)

    def new_layers(self) -> list[nn.Module]:
        """The layers this network adds to the backbone (they learn at the head rate)."""
        raise NotImplementedError

    def start_from_classifier(self, state_dict: Mapping[str, Any]) -> None:
        """Load the backbone and ``classifier`` layer of a trained CAM network (``models.cam_net``),
        for networks that have both; their other layers keep their initialisation."""
        missing, unexpected = self.load_state_dict(state_dict, strict=False)
        lacking = [k for k in missing if k.startswith(("backbone.", "classifier."))]
        if unexpected or lacking:
            raise ValueError(f"not the weights of a CAM network on this backbone: unexpected {unexpected[:4]}, "
                             f"missing {lacking[:4]}")

    def param_groups(self, lr: float, head_lr_mult: float = 10.0, bias_lr_mult: float | None = None) -> list[dict]:
        """Pretrained backbone at ``lr``, the new layers at ``lr * head_lr_mult``.

        With ``bias_lr_mult`` each part splits in two: weights, and 1-D parameters (biases, norm
        scales) at ``bias_lr_mult`` times the rate without weight decay, as PSA's released code
        (x1 / x2 / x10 / x20).
        """
        new = [p for layer in self.new_layers() for p in trainable(layer)]
        parts = [(trainable(self.backbone), lr), (new, lr * head_lr_mult)]
        if bias_lr_mult is None:
            return [{"params": params, "lr": rate} for params, rate in parts]
        return [group for params, rate in parts for group in (
            {"params": [p for p in params if p.ndim > 1], "lr": rate},
            {"params": [p for p in params if p.ndim <= 1], "lr": rate * bias_lr_mult, "weight_decay": 0.0})]

    def train(self, mode: bool = True) -> TaskNet:
        """Set the mode; a frozen backbone BatchNorm stays in eval mode."""
        super().train(mode)
        if self.freeze_bn:
            freeze_batchnorm(self.backbone)
        return self


def _submodule(backbone: nn.Module, name: str) -> nn.Module:
    """``backbone``'s submodule ``name`` (dotted), or a ValueError listing its top-level names."""
    try:
        return backbone.get_submodule(name)
    except AttributeError:
        names = [child for child, _ in backbone.named_children()]
        raise ValueError(f"cannot freeze '{name}': the backbone has no such module; its modules: {names}") from None


def trainable(module: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``module`` that require gradients."""
    return [p for p in module.parameters() if p.requires_grad]


def freeze_batchnorm(module: nn.Module) -> None:
    """Keep BatchNorm statistics and affine parameters fixed (small batches make them noisy)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)
