"""What every benchmark script measures the same way: wall time, peak memory, fresh processes, tables.

Peak memory: on CPU the growth of resident memory during a call (VmHWM, reset through
/proc/self/clear_refs just before the call, minus VmRSS before it; falls back to the growth of
ru_maxrss where the reset is not allowed); on CUDA torch.cuda.max_memory_allocated minus the
memory allocated before the call. Run each case in a fresh process (``in_fresh_process``) so
figures do not mix.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import platform
import re
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def peak_start(device: torch.device) -> tuple[int, str]:
    """Start a peak-memory measurement: the baseline and how it is measured."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device), "cuda max_memory_allocated"
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return _kib("VmRSS") * 1024, "VmHWM"
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "ru_maxrss"


def peak_mib(device: torch.device, base: int, how: str) -> float:
    """Growth of the peak since ``peak_start``, in MiB."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = 1024 * (_kib("VmHWM") if how == "VmHWM" else maxrss)
    return (peak - base) / 2 ** 20


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    """(fn(), wall seconds), waiting for the GPU to finish."""
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def _send_result(conn: Any, fn: Callable[..., dict], args: tuple) -> None:
    """Plain pickle: tensors travel by value (multiprocessing's own pickler would share them
    through file descriptors that close when this process ends)."""
    try:
        conn.send_bytes(pickle.dumps((True, fn(*args))))
    except BaseException as err:  # handed to the parent, which raises it
        conn.send_bytes(pickle.dumps((False, err)))
    finally:
        conn.close()


def in_fresh_process(fn: Callable[..., dict], *args: Any) -> dict:
    """``fn(*args)`` in a freshly spawned process (``fn`` must be importable by name); its
    exceptions are raised here. The process is not a daemon, so ``fn`` may start its own
    workers (a pipeline's DataLoader workers)."""
    context = mp.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_send_result, args=(sender, fn, args))
    process.start()
    sender.close()
    try:
        ok, value = pickle.loads(receiver.recv_bytes())
    except EOFError:
        process.join()
        raise RuntimeError(f"the measuring process died (exit code {process.exitcode})") from None
    process.join()
    if not ok:
        raise value
    return value


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text()) if cpuinfo.is_file() else None
    return found.group(1).strip() if found else platform.processor()


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, torch, and the CUDA device if used."""
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}
    if device.type == "cuda":
        info.update(cuda_device=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    return info


def describe_machine(info: dict[str, Any]) -> str:
    """One line for a results file: CPU, cores, torch threads, torch, CUDA device."""
    line = (f"{info['cpu']}, {info['usable_cores']} of {info['cores']} cores usable, "
            f"{info['torch_threads']} torch threads, torch {info['torch']}")
    return line + (f", {info['cuda_device']} (CUDA {info['cuda']})" if "cuda_device" in info else "")


def markdown(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A Markdown table: ``columns`` are (row key, title, format); a missing key prints 'skipped'."""
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [fmt.format(row[key]) if key in row else "skipped" for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
