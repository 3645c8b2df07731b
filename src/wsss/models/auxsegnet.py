"""AuxSegNet (Xu et al., ICCV 2021): classification, saliency and segmentation on one backbone,
with a cross-task affinity that refines both dense predictions.

Layout as in the authors' released network (``network/AuxSegNet.py``): the classifier is GAP +
1x1 conv (the CAM uses its weights); the saliency and segmentation branches are each a 3x3 conv
at dilation 6 then 12 (128 channels), features refined by their task affinity
``F' = F + W(A g(F))`` with ``A = softmax_row(theta(F)^T phi(F))`` (HW x HW), then a 3x3 conv
at dilation 18 and a 1x1 conv to 1 (saliency) or C (segmentation) logits ``P``. The cross-task
affinity stacks ``[A_seg, A_sal]`` as a two-channel HW x HW image, weighs them per entry with
conv3x3 -> ReLU -> conv1x1 -> softmax over the two channels, ``A_ct = w1 A_seg + w2 A_sal``
(rows not renormalised, as in their code), and refines ``P_ref = A_ct . P`` for both tasks.

The HW x HW matrices are built whole while training (stride 8 on crops); with ``chunk`` they are
built a block of rows at a time (plus one row either side for the 3x3 conv), so inference on a
whole image needs memory linear in HW, with the same result.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsss.models.base import TaskNet
from wsss.models.factory import register_model

Rows = Callable[[int, int], Tensor]  # (start, stop) -> affinity rows (B, stop - start, N)


def _conv(c_in: int, c_out: int, kernel: int, rate: int = 1, bias: bool = True) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, kernel, padding=rate * (kernel // 2), dilation=rate, bias=bias)
    nn.init.xavier_uniform_(conv.weight)
    return conv


def row_blocks(n: int, chunk: int | None) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in blocks of ``chunk`` rows (None: one block)."""
    step = n if chunk is None else max(1, chunk)
    return [(start, min(start + step, n)) for start in range(0, n, step)]


class TaskAffinity(nn.Module):
    """A non-local block's affinity ``softmax_row(theta(F)^T phi(F))``, served a block of rows at a time."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, channels, 1)
        self.phi = nn.Conv2d(channels, channels, 1)

    def rows(self, feats: Tensor, dense: bool) -> Rows:
        """The row function of ``feats``' affinity; ``dense`` builds the whole matrix once."""
        theta, phi = self.theta(feats).flatten(2).transpose(1, 2), self.phi(feats).flatten(2)
        if dense:
            full = torch.softmax(theta @ phi, -1)
            return lambda start, stop: full[:, start:stop]
        return lambda start, stop: torch.softmax(theta[:, start:stop] @ phi, -1)


class CrossTaskWeighting(nn.Module):
    """Per-entry weights of the two task affinities: conv3x3 (no bias) -> ReLU -> conv1x1 -> softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.mix = nn.Conv2d(2, 2, 1)

    def block(self, seg_rows: Rows, sal_rows: Rows, start: int, stop: int, n: int) -> Tensor:
        """Rows ``start:stop`` of ``A_ct`` (B, stop - start, N), from those rows and one either side."""
        lo, hi = max(start - 1, 0), min(stop + 1, n)
        stack = torch.stack([seg_rows(lo, hi), sal_rows(lo, hi)], 1)
        # zero rows beyond the matrix's edge, as the whole matrix's conv padding gives
        stack = F.pad(stack, (0, 0, lo - (start - 1), stop + 1 - hi))
        hidden = F.relu(F.conv2d(stack, self.conv.weight, padding=(0, 1)))
        weights = torch.softmax(self.mix(hidden), 1)
        inner = stack[:, :, 1:-1]
        return weights[:, 0] * inner[:, 0] + weights[:, 1] * inner[:, 1]

    def product(self, seg_rows: Rows, sal_rows: Rows, maps: Tensor, chunk: int | None) -> Tensor:
        """``A_ct . maps`` for maps (B, M, h, w), built ``chunk`` rows of ``A_ct`` at a time."""
        flat = maps.flatten(2).transpose(1, 2)  # (B, N, M)
        n = flat.shape[1]
        out = torch.cat([self.block(seg_rows, sal_rows, s, e, n) @ flat for s, e in row_blocks(n, chunk)], 1)
        return out.transpose(1, 2).reshape(maps.shape)


class DenseBranch(nn.Module):
    """A saliency or segmentation branch: dilated convs, its task affinity, refined features, logits."""

    def __init__(self, in_channels: int, out_channels: int, channels: int, rate_scale: float) -> None:
        super().__init__()
        rate = [max(1, round(r * rate_scale)) for r in (6, 12, 18)]
        self.conv1 = _conv(in_channels, channels, 3, rate[0])
        self.conv2 = _conv(channels, channels, 3, rate[1])
        self.affinity = TaskAffinity(channels)
        self.g = nn.Conv2d(channels, channels, 1)
        self.w = nn.Conv2d(channels, channels, 1)
        self.conv3 = _conv(channels, channels, 3, rate[2])
        self.out = _conv(channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor, chunk: int | None) -> tuple[Tensor, Rows]:
        """(logits P (B, out, h, w), the row function of this branch's affinity)."""
        feats = F.relu(self.conv2(F.relu(self.conv1(x))))
        rows = self.affinity.rows(feats, dense=chunk is None)
        values = self.g(feats).flatten(2).transpose(1, 2)  # (B, N, C)
        n = values.shape[1]
        context = torch.cat([rows(s, e) @ values for s, e in row_blocks(n, chunk)], 1)
        feats = feats + self.w(context.transpose(1, 2).reshape(feats.shape))
        return self.out(F.relu(self.conv3(feats))), rows


@register_model("auxsegnet")
class AuxSegNet(TaskNet):
    """``forward(x) -> dict``: ``logits`` (B, K) of the K foreground classes, ``cams`` (B, K, h, w)
    before ReLU, ``sal`` / ``sal_ref`` (B, 1, h, w) and ``seg`` / ``seg_ref`` (B, C, h, w) logits;
    with ``propagate_cams`` also ``cams_ref``, the ReLU'd, max-normalised CAMs times ``A_ct``, and
    with ``maps`` also ``maps_ref``."""

    def __init__(self, backbone: nn.Module, num_classes: int, *, channels: int = 128, dropout: float = 0.5,
                 freeze_bn: bool = True, frozen: Sequence[str] = ()) -> None:
        super().__init__(backbone, freeze_bn=freeze_bn, frozen=frozen)
        feat = backbone.channels[-1]
        rate_scale = 8 / backbone.strides[-1]  # the authors' rates are at output stride 8
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = _conv(feat, num_classes - 1, 1, bias=False)
        self.seg = DenseBranch(feat, num_classes, channels, rate_scale)
        self.sal = DenseBranch(feat, 1, channels, rate_scale)
        self.cross = CrossTaskWeighting()

    def forward(self, x: Tensor, *, chunk: int | None = None, propagate_cams: bool = False,
                maps: Tensor | None = None) -> dict[str, Tensor]:
        return self.heads(self.backbone(x)[-1], chunk=chunk, propagate_cams=propagate_cams, maps=maps)

    def heads(self, feats: Tensor, *, chunk: int | None = None, propagate_cams: bool = False,
              maps: Tensor | None = None) -> dict[str, Tensor]:
        """Everything after the backbone, from its deepest features (B, channels, h, w); ``maps``
        (B, M, h, w) on the same grid come back multiplied by ``A_ct`` as ``maps_ref``."""
        out = {"logits": self.classifier(F.adaptive_avg_pool2d(self.dropout(feats), 1)).flatten(1),
               "cams": F.conv2d(feats, self.classifier.weight)}
        out["seg"], seg_rows = self.seg(feats, chunk)
        out["sal"], sal_rows = self.sal(feats, chunk)
        parts = {"seg_ref": out["seg"], "sal_ref": out["sal"]}
        if propagate_cams:
            cams = F.relu(out["cams"])
            parts["cams_ref"] = cams / (cams.amax((2, 3), keepdim=True) + 1e-5)
        if maps is not None:
            parts["maps_ref"] = maps
        refined = self.cross.product(seg_rows, sal_rows, torch.cat(list(parts.values()), 1), chunk)
        return out | dict(zip(parts, refined.split([p.shape[1] for p in parts.values()], 1)))

    def cams(self, x: Tensor) -> Tensor:
        """The classification branch's ReLU'd CAMs (B, K, h, w), for multi-scale inference."""
        return F.relu(F.conv2d(self.backbone(x)[-1], self.classifier.weight))

    def new_layers(self) -> list[nn.Module]:
        return [self.classifier, self.seg, self.sal, self.cross]
