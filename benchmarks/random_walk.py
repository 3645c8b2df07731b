"""Sparse `random_walk` against PSA's dense reference `dense_random_walk`.

Inputs: affinities from a synthetic feature map (a few smooth regions with distinct features
plus smooth noise, so affinities are high inside regions and low across), CAMs of 20 classes
of which 3 are present (smooth random blobs, the others 0) plus PSA's background (alpha 16):
21 channels, radius 5, beta 8, t 256.

Each (method, size, dtype) runs in a fresh spawned process so memory figures do not mix:
- time: wall time of the call (sparse: best of --repeats; dense: one run);
- peak memory: the growth during the first call (``measure.peak_start``); inputs are allocated
  before the baseline, so not counted.
On a CPU shared with other busy processes, set OMP_WAIT_POLICY=PASSIVE (or --threads 1): with
spinning OpenMP waits the 256 short sparse products of a 2-thread run can take 10-40x longer.
Agreement is the largest absolute difference of the outputs computed in float64 (and, for
information, of the timed float32 outputs).

    PYTHONPATH=src python benchmarks/random_walk.py --sizes 32 56 80 --out results.json
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from measure import in_fresh_process, markdown, peak_mib, peak_start, timed
from wsss.ops.affinity import affinity_from_features, neighbor_offsets
from wsss.ops.random_walk import background_cam, dense_random_walk, random_walk

METHODS = {"sparse": random_walk, "dense": dense_random_walk}


def make_inputs(size: int, channels: int, radius: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, S, S) CAMs in [0, 1] with background first, and (P, S, S) affinities, float64 on CPU."""
    gen = torch.Generator().manual_seed(seed + size)
    seeds = torch.rand(6, 2, generator=gen) * size
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    grid = torch.stack([ys, xs], -1).double()
    region = torch.cdist(grid.view(-1, 2), seeds.double()).argmin(1).view(size, size)
    codes = torch.randn(6, 16, generator=gen, dtype=torch.float64)
    noise = F.avg_pool2d(torch.randn(1, 16, size + 8, size + 8, generator=gen, dtype=torch.float64), 9, 1)
    feats = codes[region].permute(2, 0, 1)[None] + 2 * noise
    aff = affinity_from_features(feats, neighbor_offsets(radius))[0]
    blobs = F.avg_pool2d(torch.randn(1, 3, size + 14, size + 14, generator=gen, dtype=torch.float64), 15, 1)
    blobs = blobs[0].relu() ** 2
    cams = torch.zeros(channels - 1, size, size, dtype=torch.float64)
    cams[:3] = blobs / blobs.flatten(1).amax(1).clamp_min(1e-5)[:, None, None]
    return background_cam(cams, alpha=16), aff


def run_case(method: str, size: int, dtype: str, args: dict) -> dict:
    """One measurement in this (fresh) process; returns timings, peak memory and the output."""
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    inputs = make_inputs(size, args["channels"], args["radius"])
    cams, aff = (t.to(device, getattr(torch, dtype)) for t in inputs)
    call = functools.partial(METHODS[method], cams, aff, neighbor_offsets(args["radius"]),
                             beta=args["beta"], steps=args["steps"])
    base, how = peak_start(device)
    out, seconds = timed(call, device)
    peak = peak_mib(device, base, how)
    repeats = args["repeats"] if method == "sparse" else 1
    seconds = min([seconds] + [timed(call, device)[1] for _ in range(repeats - 1)])
    return {"seconds": seconds, "peak_mib": peak, "memory": how, "out": out.cpu().double()}


def bench_size(size: int, args: dict) -> dict:
    row = {"size": size, "pixels": size * size}
    with_dense = args["skip_dense_above"] is None or size <= args["skip_dense_above"]
    cases = [(m, d) for m in METHODS for d in ("float32", "float64") if with_dense or (m, d) == ("sparse", "float32")]
    runs = {(m, d): in_fresh_process(run_case, m, size, d, args) for m, d in cases}
    sparse = runs["sparse", "float32"]
    row.update(sparse_s=sparse["seconds"], sparse_peak_mib=sparse["peak_mib"],
               sparse_kib_per_pixel=sparse["peak_mib"] * 1024 / (size * size), memory=sparse["memory"])
    if with_dense:
        dense = runs["dense", "float32"]
        diff64 = runs["sparse", "float64"]["out"] - runs["dense", "float64"]["out"]
        row.update(dense_s=dense["seconds"], dense_peak_mib=dense["peak_mib"],
                   speedup=dense["seconds"] / sparse["seconds"], max_abs_diff_f64=diff64.abs().max().item(),
                   max_abs_diff_f32=(sparse["out"] - dense["out"]).abs().max().item())
    return row


COLUMNS = [("size", "size", "{}"), ("pixels", "pixels", "{}"), ("sparse_s", "sparse s", "{:.3f}"),
           ("dense_s", "dense s", "{:.2f}"), ("speedup", "speed-up", "{:.0f}x"),
           ("sparse_peak_mib", "sparse peak MiB", "{:.1f}"),
           ("sparse_kib_per_pixel", "sparse KiB/px", "{:.2f}"),
           ("dense_peak_mib", "dense peak MiB", "{:.0f}"), ("max_abs_diff_f64", "max diff f64", "{:.1e}"),
           ("max_abs_diff_f32", "max diff f32", "{:.1e}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 56, 80])
    parser.add_argument("--channels", type=int, default=21)
    parser.add_argument("--radius", type=int, default=5)
    parser.add_argument("--beta", type=float, default=8)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the sparse walk (best kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--skip-dense-above", type=int, default=None, metavar="N",
                        help="no dense reference for maps larger than N x N")
    parser.add_argument("--out", type=Path, default=Path("results.json"))
    args = vars(parser.parse_args())
    rows = []
    for size in args["sizes"]:
        print(f"random walk {size}x{size} ...", file=sys.stderr)
        rows.append(bench_size(size, args))
    setup = dict(args, out=str(args["out"]), threads=args["threads"] or torch.get_num_threads(),
                 torch=torch.__version__, machine=platform.machine(),
                 omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"))
    args["out"].write_text(json.dumps({"setup": setup, "results": rows}, indent=2))
    print(markdown(rows, COLUMNS))


if __name__ == "__main__":
    main()
