"""One training loop for every stage: poly LR, AMP on CUDA, DDP, atomic checkpoints, resume.

Resuming continues to the same weights as an uninterrupted run: the batch order and every
augmentation are functions of (seed, epoch, index), and the torch generators that drive
dropout are saved in each checkpoint and restored.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler

from wsss.config import TrainConfig
from wsss.engine.checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from wsss.engine.run_log import RunLog
from wsss.engine.runtime import Runtime, barrier
from wsss.io import remove_stale_temporaries
from wsss.progress import progress

StepFn = Callable[[nn.Module, dict[str, Any]], dict[str, Tensor]]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the images."""


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` keys: a seeded permutation per epoch, sharded across ranks.

    Every epoch has the same number of full batches on every rank (indices wrap around when
    the dataset is smaller than one global batch), and ``skip`` batches can be skipped to
    resume mid-epoch.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if size == 0:
            raise ValueError("cannot train on an empty dataset")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = max(1, size // (batch_size * world_size))
        self.epoch, self.skip = 0, 0

    def set_position(self, epoch: int, skip: int) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.skip) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        needed = self.steps_per_epoch * self.batch_size * self.world_size
        order = order.repeat(math.ceil(needed / self.size))[:needed]
        mine = order[self.rank::self.world_size][self.skip * self.batch_size:]
        return ((self.epoch, int(i)) for i in mine)


class Trainer:
    """Runs ``step_fn`` over a dataset keyed by ``(epoch, index)`` and writes checkpoints.

    ``step_fn(model, batch)`` returns loss terms; the key ``loss`` is optimised. The model
    must provide ``param_groups(lr, head_lr_mult, bias_lr_mult)``; its ``arch`` (constructor arguments, set by
    ``models.factory``) goes into the final checkpoint so the network can be rebuilt from it.
    """

    def __init__(self, model: nn.Module, step_fn: StepFn, train_set: Dataset, cfg: TrainConfig, *,
                 stage: str, out_path: Path, runtime: Runtime, log: RunLog, meta: dict[str, Any]) -> None:
        self.model, self.step_fn, self.train_set, self.cfg = model, step_fn, train_set, cfg
        self.stage, self.out_path, self.runtime, self.log, self.meta = stage, out_path, runtime, log, meta
        self.last_path = out_path.with_suffix(".last.pt")
        self.sampler = EpochSampler(len(train_set), cfg.batch_size, runtime.seed, runtime.rank,
                                    runtime.world_size)
        self.total_steps = cfg.epochs * self.sampler.steps_per_epoch

    def fit(self, resume: bool = False) -> nn.Module:
        """Train to the end (or continue from the last checkpoint) and save the final weights."""
        if self.runtime.is_main:  # a kill mid-write leaves a temporary file beside the checkpoint
            for path in (self.out_path, self.last_path):
                remove_stale_temporaries(path.parent, path.name)
        device = self.runtime.device
        model = self.model.to(device)
        optimizer = torch.optim.SGD(model.param_groups(self.cfg.lr, self.cfg.head_lr_mult, self.cfg.bias_lr_mult),
                                    momentum=self.cfg.momentum, weight_decay=self.cfg.weight_decay)
        base_lrs = [group["lr"] for group in optimizer.param_groups]
        scaler = torch.amp.GradScaler("cuda", enabled=self._use_amp and not self._bf16)
        step = self._restore(optimizer, scaler) if resume and self.last_path.exists() else 0
        net = DistributedDataParallel(model) if self.runtime.distributed else model
        net.train()
        bar = progress(None, self.stage, self.runtime.progress, total=self.total_steps - step)
        tick, since = time.perf_counter(), step
        for batch in self._batches(step):
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * (1 - step / self.total_steps) ** self.cfg.poly_power
            terms = self._train_step(net, batch, optimizer, scaler, step)
            step += 1
            bar.update(1)
            if step % self.cfg.log_every == 0 or step == self.total_steps:
                elapsed = time.perf_counter() - tick
                rate = (step - since) * self.cfg.batch_size * self.runtime.world_size / max(elapsed, 1e-9)
                self.log.write(self.stage, step=step, total=self.total_steps, lr=optimizer.param_groups[0]["lr"],
                               images_per_s=round(rate, 2), **{k: float(v) for k, v in terms.items()})
                tick, since = time.perf_counter(), step
            if step % self.cfg.checkpoint_every == 0 and step < self.total_steps:
                self._save_last(optimizer, scaler, step)
        bar.close()
        self.log.close()
        self._save_final()
        return model

    @property
    def _use_amp(self) -> bool:
        return self.cfg.amp and self.runtime.device.type == "cuda"

    @property
    def _bf16(self) -> bool:
        return self._use_amp and torch.cuda.is_bf16_supported()

    def _batches(self, step: int) -> Iterator[dict[str, Any]]:
        while step < self.total_steps:
            epoch, skip = divmod(step, self.sampler.steps_per_epoch)
            self.sampler.set_position(epoch, skip)
            loader = DataLoader(self.train_set, batch_size=self.cfg.batch_size, sampler=self.sampler,
                                num_workers=self.runtime.workers, drop_last=True,
                                pin_memory=self.runtime.device.type == "cuda",
                                generator=torch.Generator().manual_seed(self.runtime.seed))
            for batch in loader:
                yield batch
                step += 1

    def _train_step(self, net: nn.Module, batch: dict[str, Any], optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler, step: int) -> dict[str, Tensor]:
        batch = {k: v.to(self.runtime.device, non_blocking=True) if isinstance(v, Tensor) else v
                 for k, v in batch.items()}
        dtype = torch.bfloat16 if self._bf16 else torch.float16
        autocast = torch.autocast("cuda", dtype=dtype) if self._use_amp else nullcontext()
        with autocast:
            terms = self.step_fn(net, batch)
        loss = terms["loss"]
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteLossError(
                f"{self.stage}: loss is {loss.item()} at step {step + 1}; images: {list(batch.get('id', []))}. "
                "Lower the learning rate or check these images and their labels."
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return {k: v.detach() for k, v in terms.items()}

    def _restore(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> int:
        state = load_checkpoint(self.last_path)
        if state.get("meta") != self.meta:
            raise CheckpointError(f"{self.last_path}: made with another configuration; delete it to start over")
        self.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        return int(state["step"])

    def _save_last(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, step: int) -> None:
        if self.runtime.is_main:
            save_checkpoint(self.last_path, {
                "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "step": step, "rng": rng_state(), "meta": self.meta,
            })
        barrier(self.runtime)

    def _save_final(self) -> None:
        if self.runtime.is_main:
            save_checkpoint(self.out_path, {"model": self.model.state_dict(), "arch": getattr(self.model, "arch", None),
                                            "meta": self.meta, "step": self.total_steps})
            self.last_path.unlink(missing_ok=True)
        barrier(self.runtime)
