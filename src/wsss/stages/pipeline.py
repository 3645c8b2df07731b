"""The one pipeline runner every method shares: stage order, seeding, timing, ``until``, scoring.

Each stage skips itself when its outputs are complete for the same configuration, so running
the pipeline again resumes where it stopped; ``until`` stops after a named stage (the stage
sub-commands). Every stage starts from the same seeded generators, alone or inside a run.
"""
from __future__ import annotations

import time
from typing import Any

from wsss.config import RunConfig, save_config
from wsss.engine.runtime import Runtime, barrier, seed_everything
from wsss.io import remove_stale_temporaries
from wsss.methods.base import Method, Stage
from wsss.stages.context import StageContext
from wsss.stages.evaluation import update_metrics
from wsss.stages.layout import RunPaths
from wsss.stages.scoring import results_table, score_stage


class Pipeline:
    """Runs the stages of ``method`` for one run config; ``outputs`` holds what each one returned."""

    def __init__(self, method: Method, cfg: RunConfig, runtime: Runtime, *, resume: bool = False,
                 skip_bad: bool = False) -> None:
        self.method, self.cfg, self.runtime, self.resume, self.skip_bad = method, cfg, runtime, resume, skip_bad
        self.paths = RunPaths(cfg.run_dir)
        self.outputs: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.datasets: dict[str, Any] = {}
        self.identities: dict[str, Any] = {}
        self.usable: dict[str, list[str]] = {}
        if runtime.is_main and self.paths.root.is_dir():  # any file a kill cut, in any folder of the run
            remove_stale_temporaries(self.paths.root, recursive=True)
        barrier(runtime)  # before any other process writes

    def run(self, until: str | None = None) -> dict[str, Any]:
        """Run the stages in order, up to and including ``until``; returns the outputs so far."""
        if until is not None:
            self.method.stage(until)  # an unknown stage fails before any work
        if self.method.check is not None:
            self.method.check(self.cfg, self.context(self.method.stages[0]).classes)
        for stage in self.method.stages:
            if stage.name == until or stage.when is None or stage.when(self.cfg):
                self.run_stage(stage)
            if stage.name == until:
                break
        return self.outputs

    def run_stage(self, stage: Stage, split: str | None = None) -> Any:
        """Run one stage on ``split`` (default: its own), timed, from freshly seeded generators."""
        ctx = self.context(stage, split)
        section = getattr(self.cfg, stage.section) if stage.section else None
        seed_everything(self.cfg.seed)
        start = time.perf_counter()
        output = stage.run(section, ctx)
        self.seconds[stage.name] = round(time.perf_counter() - start, 1)
        if self.runtime.is_main:
            print(f"[{stage.name}] done in {self.seconds[stage.name]:.1f} s", flush=True)
        self.outputs[stage.name] = output
        if self.runtime.is_main:  # only settings a stage has run with (its outputs checked against them)
            save_config(self.cfg, self.paths.config)
        return output

    def context(self, stage: Stage, split: str | None = None) -> StageContext:
        """The context ``stage`` runs in (datasets and their identities are opened once per pipeline)."""
        data = self.cfg.data
        split = split or (data.val_split if stage.split == "val" else data.train_split)
        return StageContext(self.cfg, self.runtime, self.paths, stage.name, split, self.outputs, self.resume,
                            self.datasets, self.identities, self.skip_bad, self.usable)

    def score(self) -> dict[str, Any]:
        """Score every stage's products against the ground truth, write ``metrics.json``, print the table."""
        scores: dict[str, Any] = {}
        for stage in self.method.stages:
            if stage.name in self.outputs:
                scores.update(score_stage(stage, self.outputs[stage.name], self.context(stage)))
        for key, value in scores.items():
            update_metrics(self.paths.metrics, key, value)
        update_metrics(self.paths.metrics, "timings_s", self.seconds)
        products = {s.produces.key: s.produces for s in self.method.stages if s.produces}
        classes = self.context(self.method.stages[0]).classes
        print(results_table(classes.names, products, scores))
        return {**scores, "timings_s": self.seconds}
