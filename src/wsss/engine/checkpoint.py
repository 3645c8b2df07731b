"""Checkpoints as plain data (tensors and builtins), written atomically.

``torch.load(weights_only=True)`` reads every file written here, so a checkpoint can be
inspected or loaded without trusting pickled code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from wsss.engine.runtime import Runtime
from wsss.io import atomic_torch_save


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or made for another configuration."""


def last_checkpoint_path(path: Path) -> Path:
    """``<net>.last.pt`` beside ``<net>.pt``: the checkpoint an interrupted training run resumes from."""
    return path.with_suffix(".last.pt")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    atomic_torch_save(path, state)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint on the CPU; a missing or corrupt file names its path."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; run the stage that writes it first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several unrelated types for a damaged file
        raise CheckpointError(f"{path}: cannot read checkpoint ({err}); delete it and re-run") from err


def rng_state() -> dict[str, Any]:
    """The torch random generators (dropout, init) so a resumed run continues identically."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def rng_states(runtime: Runtime) -> list[dict[str, Any]]:
    """Every process's generators, by rank (each rank draws its own dropout masks)."""
    if not runtime.distributed:
        return [rng_state()]
    states: list[Any] = [None] * runtime.world_size
    dist.all_gather_object(states, rng_state())
    return states
