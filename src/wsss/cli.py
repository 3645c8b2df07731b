"""The ``wsss`` command: thin sub-commands that parse, load the config, look the method up, run it.

Stage sub-commands are the stages of every registered method; each one runs the configured
method's pipeline up to that stage (earlier stages run or are skipped when finished). A
method's extra commands are added the same way.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from wsss.config import ConfigError, RunConfig, load_config
from wsss.data import build_dataset, detect_layout, generate_demo
from wsss.engine.checkpoint import CheckpointError
from wsss.engine.run_lock import RunLock
from wsss.engine.runtime import Runtime, create_runtime, leave_process_group
from wsss.engine.trainer import NonFiniteLossError
from wsss.io import DataFileError
from wsss.methods import all_methods, get_method
from wsss.methods.base import Command, Method, Stage
from wsss.stages.artifacts import ArtifactMismatchError
from wsss.stages.common import raise_file_problems
from wsss.stages.layout import RunPaths
from wsss.stages.pipeline import Pipeline

# Errors whose message tells the user what to fix; they are printed without a traceback
# (set WSSS_DEBUG=1 to see it). Unknown names (backbone, preset, class, method) raise KeyError.
USER_ERRORS = (ConfigError, DataFileError, CheckpointError, ArtifactMismatchError, NonFiniteLossError,
               FileNotFoundError, KeyError, ValueError, ImportError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as args.cleanup:  # the run folder's lock, released however the command ends
        args.cleanup.callback(leave_process_group)  # last, after the lock
        try:
            return args.handler(args)
        except USER_ERRORS as err:
            if os.environ.get("WSSS_DEBUG"):
                raise
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            print(f"error: {message}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            if os.environ.get("WSSS_DEBUG"):
                raise
            print(_interrupted(getattr(args, "run_paths", None)), file=sys.stderr)
            return 130


def _interrupted(paths: RunPaths | None) -> str:
    """What a Ctrl-C leaves and how to go on from it."""
    last = paths.last_checkpoint() if paths is not None else None
    if last is not None:
        return f"interrupted; `--resume` goes on from {last}"
    return "interrupted; run the same command again: finished stages and written per-image outputs are kept"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsss", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="command")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str, *,
                split: bool = False, resume: bool = False, positional: tuple[str, dict] | None = None
                ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if positional is not None:  # before the overrides, which take every remaining word
            sub.add_argument(positional[0], **positional[1])
        sub.add_argument("--config", type=Path, help="YAML file (default: the built-in demo config)")
        if split:
            sub.add_argument("--split", help="dataset split (default: the stage's own)")
        if resume:
            sub.add_argument("--resume", action="store_true", help="continue an interrupted training run")
            sub.add_argument("--skip-bad", action="store_true",
                             help="leave out images whose files cannot be read (listed in skipped-<split>.txt)")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        sub.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. cls.train.lr=0.05")
        sub.set_defaults(handler=handler)
        return sub

    command("demo-data", _demo_data, "write the generated demo dataset in VOC layout",
            positional=("out", {"type": Path, "help": "output folder"}))
    command("check-data", _check_data, "validate a dataset and list every problem (exit 1 if any)", split=True,
            positional=("dataset", {"nargs": "?", "help": "dataset folder, layout detected (default: data.root)"}))
    command("methods", _methods, "list the registered methods, their stages and config sections")
    for name, help_text, any_split in _stage_commands():
        command(name, _stage_handler(name), help_text, split=any_split, resume=True)
    evaluate = command("eval", _eval, "score a folder of CAMs (.npz) or label maps (.png)", split=True)
    evaluate.add_argument("--path", type=Path, help="folder to score (default: the run's cams/<split>)")
    command("run", _run, "run the whole pipeline of the configured method, skipping finished stages", resume=True)
    report = command("report", _report, "write report.html in the run folder: metrics, training curves, gallery")
    report.add_argument("--run", type=Path, help="run folder (default: the configured run, runs/<name>); "
                        "its config.yaml is the config unless --config is given")
    for method in all_methods():
        for extra in method.commands:
            extra.add_arguments(command(extra.name, _extra_handler(extra.name), extra.help))
    return parser


def _stage_commands() -> list[tuple[str, str, bool]]:
    """(name, help, takes ``--split``) of every stage name across the methods, in pipeline order of
    first appearance; a name whose stages differ between methods (``pseudo``) gets each one's help."""
    seen: dict[str, list[tuple[str, Stage]]] = {}
    for method in all_methods():
        for stage in method.stages:
            seen.setdefault(stage.name, []).append((method.name, stage))
    commands = []
    for name, stages in seen.items():
        by_help: dict[str, list[str]] = {}
        for method, stage in stages:
            by_help.setdefault(stage.help, []).append(method)
        help_text = next(iter(by_help)) if len(by_help) == 1 else "; ".join(
            f"{', '.join(methods)}: {text}" for text, methods in by_help.items())
        commands.append((name, help_text, any(stage.any_split for _, stage in stages)))
    return commands


def _setup(args: argparse.Namespace) -> tuple[RunConfig, Runtime]:
    """Load the config, make the demo data when it is the dataset, resolve the device."""
    cfg = load_config(args.config, args.overrides)
    if cfg.data.kind == "demo":
        generate_demo(Path(cfg.data.root), cfg.demo)
    return cfg, create_runtime(cfg.device, cfg.seed, cfg.workers, progress=not args.quiet)


def _pipeline(args: argparse.Namespace, check: Callable[[Method], object] = lambda method: None) -> Pipeline:
    """The configured method's pipeline, once ``check(method)`` passed and the run folder is
    writable and locked for this command (rank 0 takes the lock)."""
    cfg, runtime = _setup(args)
    method = get_method(cfg.method)
    check(method)
    args.run_paths = RunPaths(cfg.run_dir)
    if runtime.is_main:
        args.cleanup.enter_context(RunLock(args.run_paths.lock))
    return Pipeline(method, cfg, runtime, resume=getattr(args, "resume", False),
                    skip_bad=getattr(args, "skip_bad", False))


def _demo_data(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    root = generate_demo(args.out, cfg.demo)
    print(f"demo dataset written to {root}")
    return 0


def _check_data(args: argparse.Namespace) -> int:
    if args.dataset is not None and "=" in args.dataset and not Path(args.dataset).exists():
        args.overrides, args.dataset = [args.dataset, *args.overrides], None  # an override, not a folder
    if args.dataset is not None:
        cfg = load_config(args.config, args.overrides)
        root = Path(args.dataset)
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, kind=detect_layout(root), root=str(root)))
        show = not args.quiet
    else:
        cfg, runtime = _setup(args)
        show = runtime.progress
    split = args.split or cfg.data.train_split
    dataset = build_dataset(cfg.data, split, strict=False, progress=show)
    raise_file_problems(dataset, cfg.data.root, split, show, cfg.workers)
    print(f"{cfg.data.root} split '{split}': {len(dataset)} images, "
          f"{dataset.classes.num_foreground} classes, masks: {'yes' if dataset.has_masks else 'no'}; no problems found")
    counts = sum(dataset.labels_of(i) for i in dataset.ids)
    for name, count in zip(dataset.classes.foreground_names, counts):
        print(f"  {name:>16}: {int(count)} images")
    return 0


def _methods(args: argparse.Namespace) -> int:
    for method in all_methods():
        print(f"{method.name}: {method.summary}")
        stages = [f"[{stage.name}]" if stage.when else stage.name for stage in method.stages]
        print(f"  stages:   {' -> '.join(stages)}  ([...]: only when a setting needs it)"
              if any(stage.when for stage in method.stages) else f"  stages:   {' -> '.join(stages)}")
        print(f"  sections: {', '.join(method.sections) or '-'} (beside the shared ones)")
        if method.commands:
            print(f"  commands: {', '.join(c.name for c in method.commands)}")
    return 0


def _stage_handler(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        pipeline = _pipeline(args, check=lambda method: method.stage(name))
        stage = pipeline.method.stage(name)
        split = getattr(args, "split", None)
        if split is not None and not stage.any_split:
            raise ConfigError(f"method '{pipeline.method.name}' runs '{name}' on its own split only; drop --split")
        if split is None:
            output = pipeline.run(until=name)[name]
        else:  # the stages before it on their own splits, then this one on the split asked for
            index = pipeline.method.stage_names.index(name)
            if index:
                pipeline.run(until=pipeline.method.stage_names[index - 1])
            output = pipeline.run_stage(stage, split)
        if pipeline.runtime.is_main:  # once, not once per torchrun process
            print(f"{name}: {_describe(output)}")
        return 0
    return handler


def _extra_handler(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        pipeline = _pipeline(args, check=lambda method: _extra_command(method, name))
        return _extra_command(pipeline.method, name).run(args, pipeline)
    return handler


def _extra_command(method: Method, name: str) -> Command:
    """The extra command ``name`` of ``method``, or a ConfigError naming the methods that have it."""
    for extra in method.commands:
        if extra.name == name:
            return extra
    owners = [m.name for m in all_methods() if any(c.name == name for c in m.commands)]
    raise ConfigError(f"`wsss {name}` is a command of method {', '.join(owners)}, "
                      f"not of '{method.name}'; set method={owners[0]}")


def _describe(output: object) -> str:
    if isinstance(output, list):
        return ", ".join(_describe(o) for o in output)
    return str(getattr(output, "path", output))


def _eval(args: argparse.Namespace) -> int:
    from wsss.stages.evaluation import cam_table, evaluate_cams, evaluate_labels, labels_table, update_metrics
    from wsss.stages.layout import RunPaths

    cfg, runtime = _setup(args)
    split = args.split or cfg.data.train_split
    paths = RunPaths(cfg.run_dir)
    folder = args.path or paths.cams(split)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: no such folder; run `wsss cams` first or pass --path")
    dataset = build_dataset(cfg.data, split, progress=runtime.progress)
    if any(folder.glob("*.npz")):
        scores = evaluate_cams(folder, dataset, cfg.eval.bg_threshold, cfg.eval.sweep, runtime.progress)
        print(cam_table(dataset.classes.names, scores, split))
    else:
        scores = evaluate_labels(folder, dataset, runtime.progress)
        print(labels_table(dataset.classes.names, folder.name, scores))
    inside = folder.resolve().is_relative_to(paths.root.resolve())
    name = folder.resolve().relative_to(paths.root.resolve()).as_posix() if inside else folder.name
    update_metrics(paths.metrics, f"eval/{name}/{split}", scores)  # e.g. eval/pseudo/train/train
    return 0


def _run(args: argparse.Namespace) -> int:
    from wsss.report.page import write_report

    pipeline = _pipeline(args)
    pipeline.run()
    if pipeline.runtime.is_main:
        pipeline.score()
        print(f"report: {write_report(pipeline.cfg, pipeline.paths, pipeline.runtime.progress)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from wsss.report.page import write_report
    from wsss.stages.layout import RunPaths

    if args.run is not None and args.config is None:
        args.config = args.run / "config.yaml"
        if not args.config.is_file():
            raise DataFileError(f"{args.config}: not found; --run takes a run folder that `wsss run` wrote "
                                "(e.g. runs/demo)")
    cfg, runtime = _setup(args)
    print(f"report: {write_report(cfg, RunPaths(args.run or cfg.run_dir), runtime.progress)}")
    return 0
