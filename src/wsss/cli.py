"""The ``wsss`` command: thin sub-commands that parse, load the config and call a stage."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from wsss.config import ConfigError, RunConfig, load_config, save_config
from wsss.data import build_dataset, check_dataset, generate_demo
from wsss.engine.checkpoint import CheckpointError
from wsss.engine.runtime import Runtime, create_runtime
from wsss.engine.trainer import NonFiniteLossError
from wsss.io import DataFileError
from wsss.stages.artifacts import ArtifactMismatchError
from wsss.stages.common import DataProblemsError, format_problems, open_dataset

PIPELINE_COMMANDS = {
    "train-cls": "train the classification network on image labels",
    "train-aff": "make seeds from the CAMs and train AffinityNet (runs earlier stages if needed)",
    "pseudo": "random-walk pseudo labels for the training split (runs earlier stages if needed)",
    "train-seg": "train the segmentation network on the pseudo labels (runs earlier stages if needed)",
    "predict": "predict the val split, single- and multi-scale (runs earlier stages if needed)",
}
# Errors whose message tells the user what to fix; they are printed without a traceback
# (set WSSS_DEBUG=1 to see it). Unknown names (backbone, preset, class) raise KeyError.
USER_ERRORS = (ConfigError, DataFileError, CheckpointError, ArtifactMismatchError, NonFiniteLossError,
               FileNotFoundError, KeyError, ValueError, ImportError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as err:
        if os.environ.get("WSSS_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsss", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str,
                split: bool = False, resume: bool = False, out: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if out:
            sub.add_argument("out", type=Path, help="output folder")
        sub.add_argument("--config", type=Path, help="YAML file (default: the built-in demo config)")
        if split:
            sub.add_argument("--split", help="dataset split (default: data.train_split)")
        if resume:
            sub.add_argument("--resume", action="store_true", help="continue an interrupted training run")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        sub.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. cls.train.lr=0.05")
        sub.set_defaults(handler=handler)
        return sub

    command("demo-data", _demo_data, "write the generated demo dataset in VOC layout", out=True)
    command("check-data", _check_data, "validate a dataset and list every problem (exit 1 if any)", split=True)
    for stage, text in PIPELINE_COMMANDS.items():
        command(stage, _pipeline_until(stage), text, resume=True)
    command("cams", _cams, "compute multi-scale CAMs for a split", split=True)
    evaluate = command("eval", _eval, "score a folder of CAMs (.npz) or label maps (.png)", split=True)
    evaluate.add_argument("--path", type=Path, help="folder to score (default: the run's cams/<split>)")
    sweep = command("sweep-pseudo", _sweep_pseudo,
                    "score random-walk pseudo labels over pseudo.alpha x pseudo.steps (uses ground truth)", split=True)
    sweep.add_argument("--alphas", type=float, nargs="+", default=[4, 6, 8, 12, 16, 24], help="background powers")
    sweep.add_argument("--steps", type=int, nargs="+", default=[16, 32, 64, 128, 256], help="walk lengths")
    command("run", _run, "run the whole pipeline, skipping finished stages", resume=True)
    return parser


def _setup(args: argparse.Namespace) -> tuple[RunConfig, Runtime]:
    """Load the config, make the demo data when it is the dataset, resolve the device."""
    cfg = load_config(args.config, args.overrides)
    if cfg.data.kind == "demo":
        generate_demo(Path(cfg.data.root), cfg.demo)
    return cfg, create_runtime(cfg.device, cfg.seed, cfg.workers, progress=not args.quiet)


def _run_dir(cfg: RunConfig, runtime: Runtime) -> Path:
    if runtime.is_main:
        save_config(cfg, cfg.run_dir / "config.yaml")
    return cfg.run_dir


def _demo_data(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    root = generate_demo(args.out, cfg.demo)
    print(f"demo dataset written to {root}")
    return 0


def _check_data(args: argparse.Namespace) -> int:
    cfg, runtime = _setup(args)
    split = args.split or cfg.data.train_split
    dataset = build_dataset(cfg.data, split, strict=False)
    problems = check_dataset(dataset, progress=runtime.progress)
    if problems:
        raise DataProblemsError(format_problems(problems, cfg.data.root, split))
    print(f"{cfg.data.root} split '{split}': {len(dataset)} images, "
          f"{dataset.classes.num_foreground} classes, masks: {'yes' if dataset.has_masks else 'no'}; no problems found")
    counts = sum(dataset.labels_of(i) for i in dataset.ids)
    for name, count in zip(dataset.classes.foreground_names, counts):
        print(f"  {name:>16}: {int(count)} images")
    return 0


def _pipeline_until(stage: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from wsss.methods.psa import run_psa

        cfg, runtime = _setup(args)
        out = run_psa(cfg, runtime, _run_dir(cfg, runtime), resume=args.resume, until=stage)
        print(f"{stage}: {_describe(out[stage])}")
        return 0
    return handler


def _describe(output: object) -> str:
    if isinstance(output, list):
        return ", ".join(_describe(o) for o in output)
    return str(getattr(output, "path", output))


def _cams(args: argparse.Namespace) -> int:
    from wsss.stages.cams import compute_cams

    cfg, runtime = _setup(args)
    split = args.split or cfg.data.train_split
    folder = compute_cams(cfg.data, cfg.model, cfg.cls, cfg.cam, runtime, _run_dir(cfg, runtime), split)
    print(f"CAMs: {folder.path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from wsss.engine.evaluate import format_table
    from wsss.stages.cams import cam_dir
    from wsss.stages.evaluation import cam_table, evaluate_cams, evaluate_labels, update_metrics

    cfg, runtime = _setup(args)
    split = args.split or cfg.data.train_split
    folder = args.path or cam_dir(cfg.run_dir, split)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: no such folder; run `wsss cams` first or pass --path")
    dataset = open_dataset(cfg.data, split)
    if any(folder.glob("*.npz")):
        scores = evaluate_cams(folder, dataset, cfg.eval.bg_threshold, cfg.eval.sweep, runtime.progress)
        print(cam_table(dataset.classes.names, scores, split))
    else:
        scores = evaluate_labels(folder, dataset, runtime.progress)
        print(format_table(dataset.classes.names, {f"{folder.name} ({mode})": s["iou"] for mode, s in scores.items()}))
    update_metrics(cfg.run_dir, f"eval/{folder.name}/{split}", scores)
    return 0


def _sweep_pseudo(args: argparse.Namespace) -> int:
    from wsss.methods.psa.sweep import sweep_pseudo_labels, sweep_table
    from wsss.stages.evaluation import update_metrics

    cfg, runtime = _setup(args)
    result = sweep_pseudo_labels(cfg, runtime, cfg.run_dir, args.alphas, args.steps, args.split)
    print(f"pseudo-label mIoU on {result['split']} (random walk, beta {cfg.pseudo.beta:g}):")
    print(sweep_table(result))
    update_metrics(cfg.run_dir, f"sweep/pseudo/{result['split']}", result)
    return 0


def _run(args: argparse.Namespace) -> int:
    from wsss.methods.psa import run_psa

    cfg, runtime = _setup(args)
    run_psa(cfg, runtime, _run_dir(cfg, runtime), resume=args.resume)
    return 0
