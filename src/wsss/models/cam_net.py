"""The classification network whose class activation maps seed every method.

Backbone -> Dropout2d -> global average pooling -> 1x1 conv without bias (Ahn & Kwak 2018;
Zhou et al. 2016). The same 1x1 weights applied before pooling give the CAMs.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class CAMNet(nn.Module):
    """``forward(x) -> logits (B, C)``; ``cams(x) -> (B, C, h, w) >= 0`` at the output stride."""

    def __init__(self, backbone: nn.Module, num_classes: int, *, dropout: float = 0.5,
                 freeze_bn: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(backbone.channels[-1], num_classes, 1, bias=False)
        nn.init.xavier_uniform_(self.classifier.weight)
        self.freeze_bn = freeze_bn
        if freeze_bn:
            freeze_batchnorm(self.backbone)

    def forward(self, x: Tensor) -> Tensor:
        feats = self.dropout(self.backbone(x)[-1])
        return self.classifier(F.adaptive_avg_pool2d(feats, 1)).flatten(1)

    def cams(self, x: Tensor) -> Tensor:
        return F.relu(self.classifier(self.backbone(x)[-1]))

    def param_groups(self, lr: float, head_lr_mult: float = 10.0) -> list[dict]:
        """Pretrained backbone at ``lr``, the new classifier at ``lr * head_lr_mult``."""
        return [
            {"params": trainable(self.backbone), "lr": lr},
            {"params": trainable(self.classifier), "lr": lr * head_lr_mult},
        ]

    def train(self, mode: bool = True) -> "CAMNet":
        super().train(mode)
        if self.freeze_bn:
            freeze_batchnorm(self.backbone)
        return self


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def freeze_batchnorm(module: nn.Module) -> None:
    """Keep BatchNorm statistics and affine parameters fixed (small batches make them noisy)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def multilabel_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Multi-label soft margin loss over the image's class tags."""
    return F.multilabel_soft_margin_loss(logits, labels)

