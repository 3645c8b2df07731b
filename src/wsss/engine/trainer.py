"""One training loop for every stage: poly LR, AMP on CUDA, DDP, atomic checkpoints, resume.

Resuming continues to the same weights as an uninterrupted run: the batch order and every
augmentation are functions of (seed, epoch, index), the learning rate is a function of the
step, and the optimizer, the AMP scaler and every process's torch generators (dropout) are
saved in each checkpoint and restored. ``cfg.batch_size`` is the global batch: under torchrun
each process takes its share of the same batches a single process would see.
"""
from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler

from wsss.config import ConfigError, TrainConfig
from wsss.engine.checkpoint import (CheckpointError, last_checkpoint_path, load_checkpoint, rng_states,
                                    save_checkpoint, set_rng_state)
from wsss.engine.interrupt import StopRequest, TrainingInterrupted
from wsss.engine.run_log import RunLog
from wsss.engine.runtime import Runtime, barrier, mean_over_ranks
from wsss.io import remove_stale_temporaries
from wsss.progress import progress

StepFn = Callable[[nn.Module, dict[str, Any]], dict[str, Tensor]]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the images."""


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` keys: a seeded permutation per epoch, sharded across ranks.

    ``batch_size`` is the global batch: step ``s`` of any number of ranks covers the same images
    as step ``s`` of one process, each rank taking ``rank_batch`` of them. Every epoch has the same
    number of full batches (indices wrap around when the dataset is smaller than one batch), and
    ``skip`` batches can be skipped to resume mid-epoch.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if size == 0:
            raise ValueError("cannot train on an empty dataset")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.rank_batch = batch_size // world_size
        self.steps_per_epoch = max(1, size // batch_size)
        self.epoch, self.skip = 0, 0

    def set_position(self, epoch: int, skip: int) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.skip) * self.rank_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        needed = self.steps_per_epoch * self.batch_size
        order = order.repeat(math.ceil(needed / self.size))[:needed]
        mine = order[self.rank::self.world_size][self.skip * self.rank_batch:]
        return ((self.epoch, int(i)) for i in mine)


class Trainer:
    """Runs ``step_fn`` over a dataset keyed by ``(epoch, index)`` and writes checkpoints.

    ``step_fn(model, batch)`` returns loss terms; the key ``loss`` is optimised. The model
    must provide ``param_groups(lr, head_lr_mult, bias_lr_mult)``; its ``arch`` (constructor arguments, set by
    ``models.factory``) goes into the final checkpoint so the network can be rebuilt from it.
    Under torchrun on CUDA, BatchNorm becomes SyncBatchNorm (statistics over the global batch);
    on the CPU it keeps per-process statistics (SyncBatchNorm needs a GPU), so freeze BN there
    for results equal to one process.
    """

    def __init__(self, model: nn.Module, step_fn: StepFn, train_set: Dataset, cfg: TrainConfig, *,
                 stage: str, out_path: Path, runtime: Runtime, log: RunLog, meta: dict[str, Any]) -> None:
        self.model, self.step_fn, self.train_set, self.cfg = model, step_fn, train_set, cfg
        self.stage, self.out_path, self.runtime, self.log, self.meta = stage, out_path, runtime, log, meta
        self.last_path = last_checkpoint_path(out_path)
        if cfg.batch_size % runtime.world_size:
            raise ConfigError(f"{stage}: train.batch_size={cfg.batch_size} is the global batch and must split "
                              f"evenly over the {runtime.world_size} processes; set it to a multiple of "
                              f"{runtime.world_size}")
        self.sampler = EpochSampler(len(train_set), cfg.batch_size, runtime.seed, runtime.rank,
                                    runtime.world_size)
        self.total_steps = cfg.epochs * self.sampler.steps_per_epoch

    def fit(self, resume: bool = False) -> nn.Module:
        """Train to the end (or, with ``resume``, from the last checkpoint) and save the final weights.

        A last checkpoint without ``resume`` is refused rather than overwritten. SIGINT/SIGTERM
        save a last checkpoint at the end of the step and raise ``TrainingInterrupted``.
        """
        if self.runtime.is_main:  # a kill mid-write leaves a temporary file beside the checkpoint
            for path in (self.out_path, self.last_path):
                remove_stale_temporaries(path.parent, path.name)
        self.model = self._placed(self.model)
        optimizer = torch.optim.SGD(self.model.param_groups(self.cfg.lr, self.cfg.head_lr_mult, self.cfg.bias_lr_mult),
                                    momentum=self.cfg.momentum, weight_decay=self.cfg.weight_decay)
        base_lrs = [group["lr"] for group in optimizer.param_groups]
        scaler = torch.amp.GradScaler("cuda", enabled=self._use_amp and not self._bf16)
        if self.runtime.distributed:  # each process its own dropout masks, as one process draws per image
            torch.manual_seed(self.runtime.seed * 65_537 + self.runtime.rank)
        step = self._start_step(resume, optimizer, scaler)
        if self.runtime.is_main:
            self.log.drop_after(step, stage=self.stage, net=self.out_path.stem)
        net = DistributedDataParallel(self.model) if self.runtime.distributed else self.model
        net.train()
        with StopRequest(self.runtime) as stop:
            self._loop(net, optimizer, scaler, base_lrs, step, stop)
        self.log.close()
        self._save_final()
        return self.model

    def _loop(self, net: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
              base_lrs: list[float], step: int, stop: StopRequest) -> None:
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
                rate = (step - since) * self.cfg.batch_size / max(elapsed, 1e-9)
                self.log.write(self.stage, net=self.out_path.stem, step=step, total=self.total_steps,
                               lr=optimizer.param_groups[0]["lr"], images_per_s=round(rate, 2),
                               **mean_over_ranks(terms, self.runtime))
                tick, since = time.perf_counter(), step
            if step < self.total_steps and stop.requested():
                bar.close()
                self._stop(optimizer, scaler, step, stop.signal)
            if step % self.cfg.checkpoint_every == 0 and step < self.total_steps:
                self._save_last(optimizer, scaler, step)
        bar.close()

    def _stop(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, step: int, signum: int) -> None:
        """Save the last checkpoint at ``step`` and raise ``TrainingInterrupted``."""
        self._save_last(optimizer, scaler, step)
        message = (f"stopped by {signal.Signals(signum).name} at step {step} of {self.total_steps}; "
                   f"{self.last_path} saved, continue with --resume")
        self._say(message)
        raise TrainingInterrupted(f"{self.stage}: {message}")

    def _placed(self, model: nn.Module) -> nn.Module:
        """The model on the device; under torchrun on CUDA with SyncBatchNorm."""
        model = model.to(self.runtime.device)
        if self.runtime.distributed and self.runtime.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def _start_step(self, resume: bool, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> int:
        """The last checkpoint's step with ``resume`` (0, said, when there is none); else 0."""
        if not self.last_path.is_file():
            if resume:
                self._say(f"nothing to resume: no {self.last_path}; training from step 0")
            return 0
        if not resume:
            raise CheckpointError(f"{self.last_path}: an interrupted run of this stage exists; add --resume to "
                                  "continue it, or delete the file to start over")
        step = self._restore(optimizer, scaler)
        self._say(f"resuming from step {step} of {self.total_steps} ({self.last_path})")
        return step

    def _say(self, message: str) -> None:
        if self.runtime.is_main:
            print(f"[{self.stage}] {message}", flush=True)

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
            loader = DataLoader(self.train_set, batch_size=self.sampler.rank_batch, sampler=self.sampler,
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
        if len(state["rng"]) != self.runtime.world_size:
            raise CheckpointError(f"{self.last_path}: saved by {len(state['rng'])} process(es); resume it with as "
                                  "many (torchrun --nproc_per_node) to continue the same run")
        set_rng_state(state["rng"][self.runtime.rank])
        return int(state["step"])

    def _save_last(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, step: int) -> None:
        rng = rng_states(self.runtime)
        if self.runtime.is_main:
            save_checkpoint(self.last_path, {
                "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "step": step, "rng": rng, "meta": self.meta,
            })
        barrier(self.runtime)

    def _save_final(self) -> None:
        if self.runtime.is_main:
            save_checkpoint(self.out_path, {"model": self.model.state_dict(), "arch": getattr(self.model, "arch", None),
                                            "meta": self.meta, "step": self.total_steps})
            self.last_path.unlink(missing_ok=True)
        barrier(self.runtime)
