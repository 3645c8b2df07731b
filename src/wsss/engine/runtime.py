"""Where a stage runs: device, seed, data-loader workers, and the torchrun process group."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Runtime:
    """Execution settings shared by every stage of a run."""

    device: torch.device
    seed: int = 0
    workers: int = 2
    rank: int = 0
    world_size: int = 1
    progress: bool = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def create_runtime(device: str = "auto", seed: int = 0, workers: int = 2,
                   progress: bool = True) -> Runtime:
    """Resolve the device and join the process group when started by ``torchrun``.

    torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; the backend is nccl on CUDA and gloo on the CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Runtime(resolved, seed, workers, rank, world_size, progress and rank == 0)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks this process's GPU when CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' requested but CUDA is not available; use device=cpu")
    return torch.device(name)


def leave_process_group() -> None:
    """Destroy the process group a ``torchrun`` process joined (a no-op otherwise), so gloo's
    threads stop before the interpreter exits; left alive, a rank under load could abort at exit
    ("terminate called without an active exception") after finishing its work."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(runtime: Runtime) -> None:
    """Wait for every process (a no-op on a single process)."""
    if runtime.distributed:
        dist.barrier()


def mean_over_ranks(terms: dict[str, torch.Tensor], runtime: Runtime) -> dict[str, float]:
    """Each term's mean over every process under torchrun (each saw its share of the global batch),
    so the logged losses are the whole batch's; every process must call it at the same step."""
    values = torch.stack([value.detach().float().mean() for value in terms.values()])
    if runtime.distributed:
        dist.all_reduce(values)
        values /= runtime.world_size
    return dict(zip(terms, values.tolist()))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CPU and every GPU).

    Called at the start of every stage, so a stage run alone or inside ``wsss run`` draws the same
    initial weights and dropout masks. Augmentation does not use these: it draws from generators
    keyed by (seed, epoch, index).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
