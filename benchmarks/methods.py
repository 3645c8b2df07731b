"""Every registered method on one dataset: CAM, pseudo-label and segmentation mIoU, time, peak memory.

Each method of the registry (``wsss methods``) that has ``configs/<method>_<dataset>.yaml`` runs
``wsss run`` (the CLI itself, ``wsss.cli.main``) in a fresh process, in a new run folder
``<out-dir>/<dataset>-<method>`` (an earlier one is removed first, so every stage runs and is
timed); then its ``metrics.json``, ``log.jsonl`` and stage seconds are read (``method_scores``).
Peak memory is the growth during the run (``measure``): on the CPU the resident memory of the
run's process (DataLoader workers not counted), on CUDA the tensors allocated on the device.
Methods without a config are listed as "no config".

Methods whose configs train the same classifier (equal ``model``, ``cls``, ``data`` and
``seed``) share it: a later method's run folder starts with a copy of the ``checkpoints/cls.pt``
of an earlier run of this benchmark (this invocation's or a kept folder of an earlier one), so
the methods are compared on the same CAMs and the classifier is trained once; the table says
which run trained it (``--no-share-classifier`` trains it in every run). ``--methods`` replaces
those methods' rows in an existing results file and keeps the others.

``--quick`` shortens every schedule through overrides (every ``epochs`` key of the config
halved, rounded up, warm-ups halved, rounded down; the demo at 120 train / 40 val images) so
that all methods run on the demo in under 30 minutes on 2 CPU cores; ``--tiny`` (tests) runs
seconds per method (test backbone, 8 images of 64 px, one scale, a tenth of the schedule). The
overrides are printed and written with the results.

    PYTHONPATH=src python benchmarks/methods.py --dataset demo --quick
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from measure import describe_machine, in_fresh_process, machine, markdown, peak_mib, peak_start, timed
from method_scores import run_report
from wsss.config import RunConfig, load_config, to_dict
from wsss.data import build_dataset, generate_demo
from wsss.io import atomic_write_text
from wsss.methods import all_methods
from wsss.methods.base import Method

REPO = Path(__file__).resolve().parents[1]
QUICK = {"factor": 0.5, "demo": {"num_train": 120, "num_val": 40}}
TINY = {"factor": 0.1, "demo": {"num_train": 8, "num_val": 4, "size": 64, "num_classes": 3},
        "shared": ["model.backbone=tiny", "model.pretrained=false", "workers=0", "data.crop_size=64",
                   "data.resize_long=[56,72]", "cam.scales=[1.0]"]}


def schedule_overrides(cfg: RunConfig, factor: float) -> list[str]:
    """Every ``epochs`` key of ``cfg`` times ``factor`` (rounded up, at least 1) and every
    ``*_epochs`` warm-up times ``factor`` rounded down, so a warm-up stays shorter than its schedule."""
    found: list[str] = []

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for key, value in tree.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif key == "epochs" and isinstance(value, int):
                found.append(f"{prefix}{key}={max(1, math.ceil(value * factor))}")
            elif key.endswith("_epochs") and isinstance(value, int):
                found.append(f"{prefix}{key}={math.floor(value * factor)}")

    walk(to_dict(cfg), "")
    return found


def mode_overrides(cfg: RunConfig, mode: dict[str, Any] | None) -> list[str]:
    """The overrides of ``--quick`` / ``--tiny`` for one method's config (none for a full run)."""
    if mode is None:
        return []
    demo = [f"demo.{key}={value}" for key, value in mode["demo"].items()] if cfg.data.kind == "demo" else []
    return [*mode.get("shared", []), *demo, *schedule_overrides(cfg, mode["factor"])]


def run_wsss(argv: list[str], device: str, threads: int | None) -> dict[str, Any]:
    """``wsss <argv>`` in this (fresh) process, its output on stderr: exit code, wall seconds, peak memory."""
    from wsss.cli import main

    if threads:
        torch.set_num_threads(threads)
    base, how = peak_start(torch.device(device))
    with contextlib.redirect_stdout(sys.stderr):
        code, seconds = timed(lambda: main(argv), torch.device(device))
    return {"exit_code": code, "wall_s": seconds, "peak_mib": peak_mib(torch.device(device), base, how), "memory": how}


def bench_method(method: Method, args: argparse.Namespace, mode: dict[str, Any] | None, data_root: Path,
                 class_names: list[str]) -> dict[str, Any]:
    """Run one method from scratch and report it (or why it did not run)."""
    config = REPO / "configs" / f"{method.name}_{args.dataset}.yaml"
    row: dict[str, Any] = {"method": method.name, "config": config.relative_to(REPO).as_posix()}
    if not config.is_file():
        return {**row, "status": "no config"}
    name = f"{args.dataset}-{method.name}"
    shared = [f"name={name}", f"out_dir={args.out_dir}", f"device={args.device}", f"data.root={data_root}"]
    overrides = mode_overrides(load_config(config, shared), mode)
    argv = ["run", "--config", str(config), "--quiet", *shared, *overrides]
    row.update(command=" ".join(["wsss run --config", row["config"], *argv[3:]]), overrides=overrides)
    print(f"{method.name}: {row['command']}", file=sys.stderr, flush=True)
    shutil.rmtree(Path(args.out_dir) / name, ignore_errors=True)
    if args.share_classifier:
        row["classifier_from"] = share_classifier(load_config(config, [*shared, *overrides]), Path(args.out_dir), name)
    try:
        run = in_fresh_process(run_wsss, argv, args.device, args.threads)
    except Exception as err:  # a crash of one method is reported, the others still run
        return {**row, "status": f"failed: {type(err).__name__}: {err}"}
    row.update(run)
    if run["exit_code"] != 0:
        return {**row, "status": f"failed (exit code {run['exit_code']}; its error is printed above)"}
    return {**row, "status": "ok", **run_report(method, Path(args.out_dir) / name, class_names)}


CLASSIFIER_SECTIONS = ("model", "cls", "data", "seed")


def share_classifier(cfg: RunConfig, out_dir: Path, name: str) -> str | None:
    """Copy into run ``name`` the finished ``cls.pt`` of another run folder under ``out_dir``
    whose config trains the same classifier; the name of that run, or None (trained here)."""
    wanted = {key: value for key, value in to_dict(cfg).items() if key in CLASSIFIER_SECTIONS}
    for other in sorted(out_dir.glob("*/checkpoints/cls.pt")):
        run = other.parents[1]
        if run.name == name or not (run / "config.yaml").is_file():
            continue
        theirs = to_dict(load_config(run / "config.yaml"))
        if all(theirs[key] == value for key, value in wanted.items()):
            target = out_dir / name / "checkpoints" / "cls.pt"
            target.parent.mkdir(parents=True)
            shutil.copyfile(other, target)
            return run.name
    return None


def merged_rows(path: Path, rows: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    """``rows`` with the rows of the other methods kept from the results file ``path`` as it is
    now (same schedule mode), in registry order."""
    earlier = json.loads(path.read_text()) if path.is_file() else {"setup": {"mode": None}, "results": []}
    fresh = {row["method"] for row in rows}
    same_mode = earlier["setup"]["mode"] == mode
    kept = [row for row in earlier["results"] if same_mode and row["method"] not in fresh]
    order = [method.name for method in all_methods()]
    return sorted(kept + rows, key=lambda row: order.index(row["method"]) if row["method"] in order else len(order))


def write_results(path: Path, setup: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """``<dataset>.json`` and ``.md`` beside it, each written atomically."""
    atomic_write_text(path, json.dumps({"setup": setup, "results": rows}, indent=1))
    atomic_write_text(path.with_suffix(".md"), report(setup, rows))


def dataset_root(args: argparse.Namespace) -> Path:
    """The demo is generated under ``--out-dir``; any other set is ``<data root>/<dataset>``."""
    if args.dataset == "demo":
        return Path(args.out_dir) / "data" / "demo"
    base = args.data_root or os.environ.get("WSSS_SHARED_DATA") or "../shared/data"
    root = Path(base) / args.dataset
    if not root.is_dir():
        raise SystemExit(f"error: {root}: no such dataset folder; pass --data-root DIR (or set WSSS_SHARED_DATA) "
                         f"to the folder that holds {args.dataset}/")
    return root


def prepare_data(args: argparse.Namespace, mode: dict[str, Any] | None, root: Path) -> list[str]:
    """Generate the demo (outside the timed runs) and return the dataset's class names."""
    configs = sorted((REPO / "configs").glob(f"*_{args.dataset}.yaml"))
    if not configs:
        raise SystemExit(f"error: no configs/<method>_{args.dataset}.yaml; datasets with configs: "
                         f"{sorted({p.stem.split('_', 1)[1] for p in (REPO / 'configs').glob('*_*.yaml')})}")
    cfg = load_config(configs[0], [f"data.root={root}"])
    cfg = load_config(configs[0], [f"data.root={root}", *mode_overrides(cfg, mode)])
    if cfg.data.kind == "demo":
        generate_demo(root, cfg.demo)
    return list(build_dataset(cfg.data, cfg.data.val_split, progress=False).classes.names)


def percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def table_cells(row: dict[str, Any]) -> dict[str, Any]:
    """The Markdown cells of one method (a method that did not run has its status only)."""
    cells = {"method": row["method"], "status": row["status"]}
    if row["status"] != "ok":
        return cells
    cam, pseudo, seg = row["cam"], row["pseudo"], row["seg"]
    return {**cells, "cam": f"{percent(cam['miou'])} ({cam['scored']})" if cam else "-",
            "pseudo": f"{percent(pseudo['miou'])} ({pseudo['key']})" if pseudo else "-",
            "seg": ", ".join(f"{name} {percent(s['miou'])}" for name, s in seg.items()) or "-",
            "training_s": row["training_s"], "stages_s": row["stages_s"], "peak_mib": row["peak_mib"],
            "rate": row["inference"]["images_per_s"] or math.nan,
            "stages": ", ".join(f"{stage} {s:.1f}" for stage, s in row["stage_seconds"].items()),
            "train_rates": ", ".join(f"{stage} {t['images_per_s']:.1f}" for stage, t in row["training"].items()
                                     if t["images_per_s"] is not None)}


COLUMNS = [("method", "method", "{}"), ("status", "status", "{}"), ("cam", "CAM mIoU (train)", "{}"),
           ("pseudo", "pseudo labels mIoU", "{}"), ("seg", "segmentation mIoU (the config's val split)", "{}"),
           ("training_s", "training s", "{:.0f}"), ("stages_s", "all stages s", "{:.0f}"),
           ("rate", "predict images/s", "{:.2f}"), ("peak_mib", "peak MiB", "{:.0f}")]
# Published figures printed beside the measured ones: (dataset, method) -> (segmentation mIoU %, source).
PUBLISHED = {("camvid", "psa"): (15.5, "the weakly supervised AffinityNet figure on CamVid test that "
                                       "../shared/README.md gives (another backbone and schedule)")}
STAGE_COLUMNS = [("method", "method", "{}"), ("stages", "seconds per stage", "{}"),
                 ("train_rates", "training images/s (mean of the logged steps)", "{}")]


def report(setup: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The results file: machine, commands, overrides, the table and the stage times."""
    cells = [table_cells(row) for row in rows]
    columns, notes = with_published(setup["dataset"], cells)
    lines = [f"# Every method on `{setup['dataset']}` ({setup['mode']})", "",
             f"Machine: {describe_machine(setup['machine'])}. Device: {setup['device']}.", "",
             f"`{setup['command']}`: {setup['wall_s'] / 60:.1f} min in all. Per method (from the same folder; "
             "`configs/` is the repository's):", ""]
    lines += [f"- {row['method']}: `{row.get('command', row['config'] + ' (missing)')}`"
              + (f" (classifier copied from the run `{row['classifier_from']}`)" if row.get("classifier_from") else "")
              + (f"; run by `{row['benchmark']}`" if row.get("benchmark", setup["command"]) != setup["command"] else "")
              for row in rows]
    lines += ["", "Scores: CAM at the config's background threshold (argmax without a background class); pixels a "
              "label map leaves at 255 count as errors (except where the method's own table excludes them); per-class "
              "IoU in the JSON. Peak memory: " + setup["memory"] + ". Predict images/s: val images / the prediction "
              "stage's seconds (single- and multi-scale passes together).", "",
              markdown(cells, columns), *notes, "", markdown([c for c in cells if "stages" in c], STAGE_COLUMNS), ""]
    return "\n".join(lines)


def with_published(dataset: str, cells: list[dict[str, Any]]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The table's columns, with a "published" one beside the segmentation mIoU (filled into
    ``cells``) when ``PUBLISHED`` has a figure for the dataset, and the lines naming its sources."""
    published = {method: figure for (name, method), figure in PUBLISHED.items() if name == dataset}
    if not published:
        return COLUMNS, []
    for cell in cells:
        cell["published"] = f"{published[cell['method']][0]:.1f}" if cell["method"] in published else "-"
    at = [key for key, _, _ in COLUMNS].index("seg") + 1
    columns = [*COLUMNS[:at], ("published", "published segmentation mIoU", "{}"), *COLUMNS[at:]]
    return columns, ["", *(f"Published, {method}: {source}." for method, (_, source) in published.items())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo", help="configs/<method>_<dataset>.yaml (demo, msrc, ...)")
    parser.add_argument("--data-root", help="folder holding <dataset>/ (default: $WSSS_SHARED_DATA or ../shared/data)")
    parser.add_argument("--out-dir", default="runs/benchmarks", help="run folders (and the generated demo)")
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--device", default="auto", help="cpu | cuda | cuda:N (auto: cuda when present)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help="only these registered methods (default: all); the results file keeps the others' rows")
    parser.add_argument("--no-share-classifier", dest="share_classifier", action="store_false",
                        help="train the classifier in every method's run (default: one run trains it, see above)")
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--quick", action="store_true", help="shortened schedules (see the module's docstring)")
    schedule.add_argument("--tiny", action="store_true", help="seconds per method, for tests")
    args = parser.parse_args()
    chosen = [method for method in all_methods() if not args.methods or method.name in args.methods]
    unknown = set(args.methods or ()) - {method.name for method in all_methods()}
    if unknown:
        parser.error(f"unknown method(s) {', '.join(sorted(unknown))}; `wsss methods` lists them")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    mode = QUICK if args.quick else TINY if args.tiny else None
    root = dataset_root(args)
    class_names = prepare_data(args, mode, root)
    start = time.perf_counter()
    command = "python " + " ".join([os.path.relpath(__file__), *sys.argv[1:]])
    setup = {"dataset": args.dataset, "mode": "quick" if args.quick else "tiny" if args.tiny else "full schedules",
             "command": command, "device": args.device,
             "machine": machine(torch.device(args.device)), "classes": class_names,
             "memory": ("growth of the run process's resident memory (VmHWM; DataLoader workers not counted)"
                        if args.device == "cpu" else "torch.cuda.max_memory_allocated growth")}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results = args.results_dir / f"{args.dataset}.json"
    rows: list[dict[str, Any]] = []
    for method in chosen:  # the files are rewritten after each method, so a stopped benchmark keeps its rows
        rows.append({**bench_method(method, args, mode, root, class_names), "benchmark": command})
        setup["wall_s"] = time.perf_counter() - start
        write_results(results, setup, merged_rows(results, rows, setup["mode"]))
    print(markdown([table_cells(row) for row in json.loads(results.read_text())["results"]], COLUMNS))
    return 0 if all(row["status"] in ("ok", "no config") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
