"""Task networks by kind, and their rebuilding from a checkpoint without a config.

A network class registers under a kind (``@register_model("cam")``); ``create_model`` builds it
on a named backbone and records the constructor arguments as plain data in ``net.arch``. A
checkpoint that stores ``arch`` next to the weights rebuilds the same network with
``model_from_checkpoint``. Importing ``wsss.models`` registers the built-in kinds.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from wsss.engine.checkpoint import CheckpointError
from wsss.models.backbones import create_backbone, lookup
from wsss.models.base import TaskNet

_REGISTRY: dict[str, type[TaskNet]] = {}
_SCALARS = (str, int, float, bool, type(None))


def register_model(kind: str) -> Callable[[type[TaskNet]], type[TaskNet]]:
    """Class decorator: ``create_model(kind, ...)`` builds the decorated class."""

    def register(cls: type[TaskNet]) -> type[TaskNet]:
        if kind in _REGISTRY:
            raise ValueError(f"model kind {kind!r} is already registered to {_REGISTRY[kind].__qualname__}")
        _REGISTRY[kind] = cls
        return cls

    return register


def available_models() -> list[str]:
    """Kinds that ``create_model`` accepts."""
    return sorted(_REGISTRY)


def create_model(kind: str, *, backbone: str, output_stride: int = 16, pretrained: bool = True,
                 weights: str | None = None, **kwargs: Any) -> TaskNet:
    """The ``kind`` network on backbone ``backbone`` (see ``create_backbone``), built with ``kwargs``.

    ``net.arch`` records the kind, backbone, output stride and ``kwargs`` (tuples as lists), so
    that ``torch.load(weights_only=True)`` reads it back from a checkpoint.
    """
    net_class = lookup(_REGISTRY, kind, what="model kind")
    arch = {"kind": kind, "backbone": backbone, "output_stride": output_stride, **_plain(kwargs)}
    body = create_backbone(backbone, output_stride=output_stride, pretrained=pretrained, weights=weights)
    net = net_class(body, **kwargs)
    net.arch = arch
    return net


def model_from_checkpoint(state: Mapping[str, Any]) -> TaskNet:
    """The network of a checkpoint holding ``arch`` (from ``create_model``) and ``model`` (its weights).

    A missing or None ``arch`` (an older checkpoint, or a net built without the factory) is a CheckpointError.
    """
    if state.get("arch") is None:
        raise CheckpointError("checkpoint has no 'arch' entry (written by an older wsss); retrain the stage")
    net = create_model(**state["arch"], pretrained=False)
    net.load_state_dict(state["model"])
    return net


def _plain(value: Any) -> Any:
    """``value`` with tuples turned into lists; TypeError unless it is builtins a checkpoint can hold."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if not isinstance(value, _SCALARS):
        raise TypeError(f"model argument {value!r} is not plain data (dict, list, str, int, float, bool, None)")
    return value
