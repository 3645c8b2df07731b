"""AuxSegNet's HW x HW affinities: peak memory and time of its heads at training crops and on images.

The heads (both dense branches with their task affinities, the cross-task weighting, the refined
predictions) run on random backbone features (the test backbone's 128 channels: the branches
reduce any backbone to ``--channels`` first, so the affinities cost the same):
- training: batch ``--batch`` at each ``--crops`` size, forward + backward, the matrices whole;
- inference: one image of ``--image`` pixels, forward only, the matrices whole (dense) and in
  blocks of ``--chunk`` rows (chunked), with the largest difference of the refined outputs.
Each case runs in a fresh spawned process (``measure``); the grid is the crop / image size
divided by ``--stride``. The matrix column is the size of one float32 HW x HW matrix per image.

    PYTHONPATH=src python benchmarks/auxsegnet_affinity.py --crops 321 --out aux_affinity.json
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path

import torch

from measure import in_fresh_process, markdown, peak_mib, peak_start, timed
from wsss.models.factory import create_model

def run_case(mode: str, grid: tuple[int, int], args: dict) -> dict:
    """One measurement in this (fresh) process."""
    torch.manual_seed(0)
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    net = create_model("auxsegnet", backbone="tiny", output_stride=args["stride"], pretrained=False,
                       num_classes=args["classes"], channels=args["channels"]).to(device)
    batch = args["batch"] if mode == "train" else 1
    feats = torch.randn(batch, net.backbone.channels[-1], *grid, device=device)
    chunk = args["chunk"] if mode == "chunked" else None

    def call() -> torch.Tensor:
        if mode == "train":
            out = net.heads(feats)
            sum(v.float().mean() for v in out.values()).backward()
            return out["seg_ref"].detach()
        with torch.no_grad():
            return net.eval().heads(feats, chunk=chunk, propagate_cams=True)["seg_ref"]

    base, how = peak_start(device)
    out, seconds = timed(call, device)
    return {"seconds": seconds, "peak_mib": peak_mib(device, base, how), "memory": how, "out": out.cpu()}


def grid_of(size: tuple[int, int], stride: int) -> tuple[int, int]:
    return tuple(math.ceil(s / stride) for s in size)


COLUMNS = [("case", "case", "{}"), ("input", "input px", "{}"), ("grid", "grid", "{}"), ("batch", "batch", "{}"),
           ("matrix_mib", "one HW x HW MiB", "{:.1f}"), ("seconds", "s", "{:.2f}"), ("peak_mib", "peak MiB", "{:.0f}"),
           ("max_abs_diff", "chunked vs dense", "{:.1e}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--crops", type=int, nargs="+", default=[321], help="training crop sides")
    parser.add_argument("--image", type=int, nargs=2, default=[375, 500], metavar=("H", "W"))
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("aux_affinity.json"))
    args = vars(parser.parse_args())
    rows = []
    for crop in args["crops"]:
        grid = grid_of((crop, crop), args["stride"])
        print(f"training crop {crop} ...", file=sys.stderr)
        result = in_fresh_process(run_case, "train", grid, args)
        rows.append({"case": "train fwd+bwd", "input": f"{crop}x{crop}", "batch": args["batch"], **result})
    grid = grid_of(tuple(args["image"]), args["stride"])
    runs = {mode: in_fresh_process(run_case, mode, grid, args) for mode in ("dense", "chunked")}
    diff = (runs["dense"]["out"] - runs["chunked"]["out"]).abs().max().item()
    for mode, result in runs.items():
        rows.append({"case": f"inference {mode}" + (f" ({args['chunk']} rows)" if mode == "chunked" else ""),
                     "input": "x".join(map(str, args["image"])), "batch": 1, **result,
                     **({"max_abs_diff": diff} if mode == "chunked" else {})})
    for row in rows:
        h, w = grid_of(tuple(int(v) for v in row["input"].split("x")), args["stride"])
        row.update(grid=f"{h}x{w}", matrix_mib=(h * w) ** 2 * 4 / 2 ** 20)
        del row["out"]
    setup = dict(args, out=str(args["out"]), threads=args["threads"] or torch.get_num_threads(),
                 torch=torch.__version__, machine=platform.machine())
    args["out"].write_text(json.dumps({"setup": setup, "results": rows}, indent=2))
    print(markdown(rows, COLUMNS))


if __name__ == "__main__":
    main()
