"""One config over several seeds: each score's mean and spread, and its gain over the CAM paired by seed.

On a small real set one run cannot resolve a few points: on coco_voc_mini the same classifier
config gave CAMs of 23.4 / 24.9 / 25.9 mIoU across seeds and CPUs, and AA&LR's masks beat their
classifier by +2.7 on one seed and +0.0 on the next. This runs ``wsss run --config C seed=S`` once
per ``--seeds`` value, each in a fresh process and its own run folder ``<out-dir>/<name>-s<S>`` (a
finished folder is reused, since ``wsss run`` skips finished stages, so adding a seed runs only
that seed), and reports every score the run's table has (the CAM, the method's label maps on train,
the predictions): the mIoU per seed, their mean and sample standard deviation, and the difference
to the same seed's CAM (mean, standard deviation, smallest). "Beats the CAM of the same run by N
points" is read from that paired difference.

    PYTHONPATH=src python benchmarks/seeds.py --config configs/psa_coco_voc_mini.yaml --seeds 0 1 2 \\
        --out-dir /tmp/seeds --out seeds.json data.root=../shared/data/coco_voc_mini
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from measure import describe_machine, in_fresh_process, machine, markdown
from method_scores import run_report
from methods import run_wsss
from wsss.config import ConfigError, RunConfig, load_config
from wsss.data import build_dataset
from wsss.io import atomic_write_text
from wsss.methods import get_method


def seed_config(args: argparse.Namespace, seed: int) -> tuple[RunConfig, list[str]]:
    """The resolved config of one seed's run and the overrides that give it."""
    name = load_config(args.config, args.overrides).name
    overrides = [*args.overrides, f"seed={seed}", f"name={name}-s{seed}", f"out_dir={args.out_dir}"]
    return load_config(args.config, overrides), overrides


def run_seed(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """``wsss run`` for one seed (in a fresh process); its scores by the run table's keys, in %."""
    cfg, overrides = seed_config(args, seed)
    argv = ["run", "--config", args.config, "--quiet", *overrides]
    print(f"seed {seed}: wsss {' '.join(argv)}", file=sys.stderr, flush=True)
    done = in_fresh_process(run_wsss, argv, args.device, args.threads)
    if done["exit_code"] != 0:
        raise SystemExit(f"seed {seed}: wsss run failed (exit code {done['exit_code']}; its error is printed above)")
    classes = build_dataset(cfg.data, cfg.data.train_split, progress=False).classes.names
    report = run_report(get_method(cfg.method), cfg.run_dir, list(classes))
    scores = {report["cam"]["key"]: report["cam"]} if report["cam"] else {}
    scores |= report["labels"] | {f"preds/{folder}": s for folder, s in report["seg"].items()}
    return {"seed": seed, "run": str(cfg.run_dir), "wall_s": done["wall_s"],
            "scores": {key: 100 * s["miou"] for key, s in scores.items()},
            "cam_key": report["cam"]["key"] if report["cam"] else None}


def _spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else math.nan


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per score every seed has: per-seed mIoU, mean, sd; and the paired gain over the CAM."""
    keys = [key for key in runs[0]["scores"] if all(key in run["scores"] for run in runs)]
    rows = []
    for key in keys:
        values = [run["scores"][key] for run in runs]
        row = {"score": key, "per_seed": " / ".join(f"{v:.1f}" for v in values),
               "values": values, "mean": statistics.fmean(values), "sd": _spread(values)}
        cam = runs[0]["cam_key"]
        if cam and key != cam:
            gains = [run["scores"][key] - run["scores"][cam] for run in runs]
            row.update(gains=gains, gain_mean=statistics.fmean(gains), gain_sd=_spread(gains), gain_min=min(gains))
        rows.append(row)
    return rows


def table_cells(row: dict[str, Any]) -> dict[str, str]:
    """The Markdown cells of one summary row: "-" for a spread of one seed and the CAM's own gain."""
    def cell(key: str, fmt: str) -> str:
        value = row.get(key)
        return "-" if value is None or math.isnan(value) else fmt.format(value)
    return {"score": row["score"], "per_seed": row["per_seed"], "mean": cell("mean", "{:.1f}"),
            "sd": cell("sd", "{:.1f}"), "gain_mean": cell("gain_mean", "{:+.1f}"), "gain_sd": cell("gain_sd", "{:.1f}"),
            "gain_min": cell("gain_min", "{:+.1f}")}


COLUMNS = [("score", "score (metrics key)", "{}"), ("per_seed", "mIoU per seed", "{}"), ("mean", "mean", "{}"),
           ("sd", "sd", "{}"), ("gain_mean", "gain over the CAM, mean", "{}"), ("gain_sd", "sd", "{}"),
           ("gain_min", "smallest", "{}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a method's YAML")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the runs' seeds (default: 0 1 2)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/seeds"), help="where the run folders go")
    parser.add_argument("--device", default="auto", help="cpu | cuda | cuda:N (auto: cuda when present)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=Path("seeds.json"), help="the JSON; a .md table beside it")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    if len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds repeats a seed: {args.seeds}")
    try:  # a bad config or override is refused before any seed runs
        seed_config(args, args.seeds[0])
    except ConfigError as err:
        parser.error(str(err))
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    runs = [run_seed(args, seed) for seed in args.seeds]
    rows = summarise(runs)
    info = machine(torch.device(args.device))
    setup = {"config": args.config, "overrides": args.overrides, "seeds": args.seeds, "machine": info,
             "command": " ".join(["python benchmarks/seeds.py", *sys.argv[1:]])}
    table = markdown([table_cells(row) for row in rows], COLUMNS)
    atomic_write_text(args.out, json.dumps({"setup": setup, "runs": runs, "results": rows}, indent=1))
    atomic_write_text(args.out.with_suffix(".md"), f"`{setup['command']}`\n\nMachine: {describe_machine(info)}.\n\n"
                      f"{table}\n")
    print(table)


if __name__ == "__main__":
    main()
