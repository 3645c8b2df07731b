"""Images/s of the pipeline's heavy steps on one device: classifier training, CAM inference, the
random walk, the dense CRF and prediction.

Random inputs of ``--size`` x ``--size`` pixels and ``--classes`` classes, the ``--backbone`` without
its ImageNet weights (the same work):
- classifier training: forward, multi-label loss, backward and SGD step on batches of ``--batch``;
- CAM inference: the classifier's CAMs at scales 1.0, 0.5, 1.5, 2.0, each with its flip (the VOC configs');
- random walk: PSA's walk (radius ``--radius``, beta 8, ``--walk-steps`` steps) on the affinity grid of an
  image at stride 8, on synthetic CAMs and affinities (``random_walk.make_inputs``);
- dense CRF: PSA's preset on an image and its softmax (pydensecrf, always on the CPU; skipped without it);
- prediction: the segmentation network (ASPP head), single scale, and at 1.0, 0.5, 1.5 with flips.
Each case runs in a fresh process (``measure``) after one untimed warm-up call; peak memory is the
growth from before the warm-up. Writes ``<results-dir>/speed_<device>.md`` and ``.json``.

    PYTHONPATH=src python benchmarks/speed.py --device cpu
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from measure import describe_machine, in_fresh_process, machine, markdown, peak_mib, peak_start, timed
from random_walk import make_inputs
from wsss.models.cam_net import multilabel_loss
from wsss.models.factory import create_model
from wsss.ops.affinity import neighbor_offsets
from wsss.ops.cam import multiscale_maps
from wsss.ops.crf import crf_available, dense_crf
from wsss.ops.random_walk import random_walk

REPO = Path(__file__).resolve().parents[1]
CAM_SCALES = (1.0, 0.5, 1.5, 2.0)
PREDICT_SCALES = (1.0, 0.5, 1.5)


def _network(kind: str, args: dict, **kwargs: Any) -> torch.nn.Module:
    return create_model(kind, backbone=args["backbone"], output_stride=args["stride"], pretrained=False,
                        num_classes=args["classes"], **kwargs).to(args["device"])


def _image(args: dict, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, args["size"], args["size"], device=args["device"])


def classifier_training(args: dict) -> tuple[Callable[[], Any], int]:
    """One SGD step of the classifier on a batch; ``--batch`` images per call."""
    net = _network("cam", args).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    images = _image(args, args["batch"])
    labels = (torch.rand(args["batch"], args["classes"], device=args["device"]) < 0.2).float()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        multilabel_loss(net(images), labels).backward()
        optimizer.step()
    return step, args["batch"]


def cam_inference(args: dict) -> tuple[Callable[[], Any], int]:
    net = _network("cam", args).eval()
    image = _image(args)[0]
    return torch.no_grad()(lambda: multiscale_maps(net.cams, image, CAM_SCALES, flip=True)), 1


def walk(args: dict) -> tuple[Callable[[], Any], int]:
    grid = math.ceil(args["size"] / 8)
    cams, aff = (t.to(args["device"], torch.float32) for t in make_inputs(grid, args["classes"], args["radius"]))
    offsets = neighbor_offsets(args["radius"])
    return lambda: random_walk(cams, aff, offsets, beta=8, steps=args["walk_steps"]), 1


def crf(args: dict) -> tuple[Callable[[], Any], int]:
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (args["size"], args["size"], 3), generator=gen, dtype=torch.uint8).numpy()
    probs = torch.randn(args["classes"], args["size"], args["size"], generator=gen).softmax(0).numpy()
    return lambda: dense_crf(image, probs, "psa"), 1


def prediction(scales: tuple[float, ...], flip: bool) -> Callable[[dict], tuple[Callable[[], Any], int]]:
    def build(args: dict) -> tuple[Callable[[], Any], int]:
        net = _network("segmentation", args, head="aspp").eval()
        image = _image(args)[0]
        return torch.no_grad()(lambda: multiscale_maps(lambda x: net(x).softmax(1), image, scales, flip)), 1
    return build


CASES: dict[str, Callable[[dict], tuple[Callable[[], Any], int]]] = {
    "classifier training": classifier_training,
    "CAM inference (4 scales + flips)": cam_inference,
    "random walk": walk,
    "dense CRF (CPU)": crf,
    "prediction, single scale": prediction((1.0,), flip=False),
    "prediction, 3 scales + flips": prediction(PREDICT_SCALES, flip=True),
}


def run_case(name: str, args: dict) -> dict[str, Any]:
    """One case in this (fresh) process: ``--repeats`` timed calls after a warm-up."""
    torch.manual_seed(0)
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    call, images = CASES[name](args)
    base, how = peak_start(device)
    timed(call, device)
    seconds = sum(timed(call, device)[1] for _ in range(args["repeats"]))
    count = images * args["repeats"]
    return {"case": name, "images": count, "seconds": seconds, "images_per_s": count / seconds,
            "peak_mib": peak_mib(device, base, how), "memory": how}


COLUMNS = [("case", "case", "{}"), ("input", "input", "{}"), ("images_per_s", "images/s", "{:.2f}"),
           ("ms_per_image", "ms / image", "{:.0f}"), ("peak_mib", "peak MiB", "{:.0f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--stride", type=int, default=16, help="the backbone's output stride")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--batch", type=int, default=8, help="classifier training batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (after one warm-up)")
    parser.add_argument("--radius", type=int, default=5, help="random walk neighbourhood")
    parser.add_argument("--walk-steps", type=int, default=256, help="random walk steps t")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = vars(parser.parse_args())
    if torch.device(args["device"]).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"error: --device {args['device']}: CUDA is not available here; use --device cpu")
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    rows = []
    for name in CASES:
        if name.startswith("dense CRF") and not crf_available():
            rows.append({"case": name + ": pydensecrf not installed (pip install -e '.[crf]')"})
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        row = in_fresh_process(run_case, name, args)
        side = math.ceil(args["size"] / 8) if name == "random walk" else args["size"]
        rows.append({**row, "input": f"{side}x{side}", "ms_per_image": 1000 / row["images_per_s"]})
    device = torch.device(args["device"])
    setup = {**args, "results_dir": str(args["results_dir"]), "machine": machine(device),
             "command": "python " + " ".join([os.path.relpath(__file__), *sys.argv[1:]])}
    table = markdown(rows, COLUMNS)
    name = f"speed_{device.type}"
    args["results_dir"].mkdir(parents=True, exist_ok=True)
    (args["results_dir"] / f"{name}.json").write_text(json.dumps({"setup": setup, "results": rows}, indent=1))
    (args["results_dir"] / f"{name}.md").write_text(
        f"# Speed on {device.type}\n\nMachine: {describe_machine(setup['machine'])}.\n\n`{setup['command']}` "
        f"({args['backbone']} at stride {args['stride']}, {args['classes']} classes, batch {args['batch']} for "
        f"training, {args['repeats']} timed calls after a warm-up; the random walk at t = "
        f"{args['walk_steps']} on the stride-8 grid). Peak memory: {rows[0].get('memory', '')} growth.\n\n"
        f"{table}\n")
    print(table)


if __name__ == "__main__":
    main()
