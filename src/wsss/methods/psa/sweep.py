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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from wsss.config import RunConfig
from wsss.engine.checkpoint import load_checkpoint
from wsss.engine.evaluate import ConfusionMatrix
from wsss.engine.runtime import Runtime
from wsss.ops.random_walk import background_cam, random_walk
from wsss.stages.cams import cam_dir, image_loader, load_cams
from wsss.stages.common import open_dataset
from wsss.stages.evaluation import ground_truth
from wsss.methods.psa.affinity import aff_path, affinity_net_from
from wsss.methods.psa.pseudo import RandomWalker, class_probabilities


def sweep_pseudo_labels(cfg: RunConfig, runtime: Runtime, run_dir: Path, alphas: Sequence[float],
                        steps: Sequence[int], split: str | None = None) -> dict[str, Any]:
    """mIoU of the pseudo labels for every (alpha, t); needs the run's CAMs and AffinityNet."""
    split = split or cfg.data.train_split
    dataset = open_dataset(cfg.data, split)
    alphas = list(alphas) if dataset.classes.has_background else [cfg.pseudo.alpha]
    steps = sorted(set(steps))
    if steps[0] < 0 or min(alphas) <= 0:
        raise ValueError(f"walk lengths must be >= 0 and alphas > 0 (got steps {steps}, alphas {alphas})")
    net = affinity_net_from(cfg.model, cfg.aff, load_checkpoint(aff_path(run_dir)), runtime.device)
    walker = RandomWalker(net, cfg.pseudo, dataset.classes)
    matrices = {(a, t): ConfusionMatrix(dataset.classes.num_classes) for a in alphas for t in steps}
    background = len(alphas) if dataset.classes.has_background else 0
    with torch.inference_mode():
        images = image_loader(dataset, dataset.ids, runtime.workers)
        for (image_id, gt), (_, image, _) in zip(ground_truth(dataset, runtime.progress, f"sweep pseudo {split}"),
                                                 images):
            cams, keys = load_cams(cam_dir(run_dir, split) / f"{image_id}.npz")
            aff, grid = walker.affinity_grid(image.to(runtime.device), torch.from_numpy(cams))
            if background:
                grid = torch.cat([background_cam(grid, a)[:1] for a in alphas] + [grid])
            lookup = walker.lookup(keys)
            done = 0
            for t in steps:
                grid = random_walk(grid, aff, walker.offsets, beta=cfg.pseudo.beta, steps=t - done)
                done = t
                upsampled = F.interpolate(grid[None].float(), size=gt.shape, mode="bilinear", align_corners=False)[0]
                for j, alpha in enumerate(alphas):
                    channels = ([upsampled[j:j + 1]] if background else []) + [upsampled[background:]]
                    scores = class_probabilities(torch.cat(channels))
                    matrices[alpha, t].update(lookup[scores.argmax(0).cpu().numpy()], gt)
    return {"split": split, "alphas": alphas, "steps": steps,
            "miou": [[matrices[a, t].scores()["miou"] for t in steps] for a in alphas]}


def sweep_table(result: dict[str, Any]) -> str:
    """Markdown table: one row per alpha, one column per walk length, best cell in bold."""
    best = max(max(row) for row in result["miou"])
    lines = ["| alpha \\ t | " + " | ".join(str(t) for t in result["steps"]) + " |",
             "|---:|" + "---:|" * len(result["steps"])]
    for alpha, row in zip(result["alphas"], result["miou"]):
        cells = [f"**{100 * v:.1f}**" if v == best else f"{100 * v:.1f}" for v in row]
        lines.append(f"| {alpha:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
