"""Pseudo-label mIoU over the random walk's background power ``alpha`` and its length ``t``.

The counterpart of the CAM background-threshold sweep: PSA's values (alpha 16, t 256) were
chosen on VOC with ResNet-38 CAMs; a weaker backbone or another dataset may want others. The
walk is linear in each channel, so one walk of every background variant beside the class
maps, read off at each requested length, scores the whole grid at the cost of one walk (and
one upsampling per length).
Like the CAM sweep it reads the ground truth: use it to choose ``pseudo.alpha`` and
``pseudo.steps`` on a labelled subset, and report the values you chose.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch

from wsss.data.sources import read_cams
from wsss.engine.checkpoint import load_checkpoint
from wsss.engine.evaluate import ConfusionMatrix
from wsss.methods.base import Command
from wsss.methods.psa.affinity import AFFINITY
from wsss.methods.psa.config import PseudoConfig
from wsss.methods.psa.pseudo import RandomWalker, affinity_net, class_probabilities
from wsss.ops.random_walk import random_walk
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.evaluation import ground_truth, update_metrics
from wsss.stages.per_image import image_loader
from wsss.stages.pipeline import Pipeline


def sweep_pseudo_labels(cfg: PseudoConfig, ctx: StageContext, cams: ArtifactDir, alphas: Sequence[float],
                        steps: Sequence[int]) -> dict[str, Any]:
    """mIoU of the pseudo labels of ``ctx.split`` for every (alpha, t), from ``cams`` and ``aff.pt``."""
    dataset = ctx.dataset()
    device = ctx.runtime.device
    walker = RandomWalker(affinity_net(load_checkpoint(ctx.paths.checkpoint(AFFINITY)), device), cfg, dataset.classes)
    alphas = list(alphas) if walker.walks_background else [cfg.alpha]
    steps = sorted(set(steps))
    if steps[0] < 0 or min(alphas) <= 0:
        raise ValueError(f"walk lengths must be >= 0 and alphas > 0 (got steps {steps}, alphas {alphas})")
    matrices = {(a, t): ConfusionMatrix(dataset.classes.num_classes) for a in alphas for t in steps}
    background = len(alphas) if walker.walks_background else 0
    with torch.inference_mode():
        images = image_loader(dataset, dataset.ids, ctx.runtime.workers)
        for (image_id, gt), (_, image, _) in zip(ground_truth(dataset, ctx.runtime.progress,
                                                              f"sweep pseudo {ctx.split}"), images):
            cam, keys = read_cams(cams.file(image_id))
            aff, grid = walker.prepare(image.to(device), torch.from_numpy(cam), alphas)
            lookup = walker.lookup(keys)
            done = 0
            for t in steps:
                grid = random_walk(grid, aff, walker.offsets, beta=cfg.beta, steps=t - done)
                done = t
                upsampled = walker.to_image(grid, gt.shape)
                for j, alpha in enumerate(alphas):
                    channels = ([upsampled[j:j + 1]] if background else []) + [upsampled[background:]]
                    scores = class_probabilities(walker.label_scores(torch.cat(channels)))  # as the stage
                    matrices[alpha, t].update(lookup[scores.argmax(0).cpu().numpy()], gt)
    rows = alphas if background else [f"bg {cfg.bg_threshold:g}" if dataset.classes.has_background else "-"]
    return {"split": ctx.split, "alphas": rows, "steps": steps,
            "miou": [[matrices[a, t].scores()["miou"] for t in steps] for a in alphas]}


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", help="dataset split (default: data.train_split)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[4, 6, 8, 12, 16, 24], help="background powers")
    parser.add_argument("--steps", type=int, nargs="+", default=[16, 32, 64, 128, 256], help="walk lengths")


def _run(args: argparse.Namespace, pipeline: Pipeline) -> int:
    """Train (or reuse) the stages up to AffinityNet, CAMs of the split, then the sweep."""
    pipeline.run(until="train-aff")
    cams_stage = pipeline.method.stage("cams")
    cams = pipeline.run_stage(cams_stage, args.split) if args.split else pipeline.outputs["cams"]
    ctx = pipeline.context(cams_stage, args.split)
    cfg = pipeline.cfg.pseudo
    result = sweep_pseudo_labels(cfg, ctx, cams, args.alphas, args.steps)
    print(f"pseudo-label mIoU on {result['split']} (random walk, beta {cfg.beta:g}):")
    print(sweep_table(result))
    update_metrics(pipeline.paths.metrics, f"sweep/pseudo/{result['split']}", result)
    return 0


SWEEP_COMMAND = Command(
    "sweep-pseudo", "score random-walk pseudo labels over pseudo.alpha x pseudo.steps (uses ground truth)",
    _arguments, _run)


def sweep_table(result: dict[str, Any]) -> str:
    """Markdown table: one row per alpha, one column per walk length, best cell in bold."""
    best = max(max(row) for row in result["miou"])
    lines = ["| alpha \\ t | " + " | ".join(str(t) for t in result["steps"]) + " |",
             "|---:|" + "---:|" * len(result["steps"])]
    for alpha, row in zip(result["alphas"], result["miou"]):
        cells = [f"**{100 * v:.1f}**" if v == best else f"{100 * v:.1f}" for v in row]
        lines.append(f"| {alpha if isinstance(alpha, str) else format(alpha, 'g')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
