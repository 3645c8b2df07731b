"""The method contract: what a method package declares (DESIGN.md section 2).

A method is a package ``wsss/methods/<name>/`` whose ``METHOD`` is a :class:`Method`: its config
sections (frozen dataclasses with the paper's defaults), its stages in order, and optional extra
sub-commands. The shared runner (``wsss.stages.pipeline``) runs the stages, times them, skips the
finished ones and scores what each one produces, the same way for every method.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsss.data import ClassSet
    from wsss.stages.context import StageContext
    from wsss.stages.pipeline import Pipeline


@dataclass(frozen=True)
class Product:
    """What a stage's outputs are, so the shared runner scores every method alike.

    ``kind`` is ``cams`` (a folder of CAM ``.npz`` files, scored at the background threshold and
    over the sweep) or ``labels`` (a folder of label PNGs, 255 scored three ways). Each folder is
    stored in ``metrics.json`` as ``<key>/<folder name>``; ``column`` titles its column in the
    table (``{name}`` is the folder's name) and ``ignore_mode`` picks the score shown there.
    """

    key: str
    kind: str
    column: str
    ignore_mode: str = "as_error"


CAMS = Product("cam", "cams", "CAM {name}")
PREDICTIONS = Product("seg", "labels", "seg {name}")

StageFn = Callable[[Any, "StageContext"], Any]


@dataclass(frozen=True)
class Stage:
    """One step of a method: ``run(section, ctx)`` reads and writes artifacts, returns its outputs.

    ``section`` names the config section passed as the first argument (None: nothing);
    ``split`` is the split it works on (``train`` or ``val``: ``data.train_split`` or
    ``data.val_split``); ``any_split`` lets its command take ``--split``. Its outputs (an
    ``ArtifactDir``, a checkpoint path, or a list of them) are what later stages read from
    ``ctx.outputs[name]``. ``when(cfg)`` (optional) says whether a whole run needs the stage
    (e.g. saliency only when a setting uses it); its own sub-command always runs it.
    """

    name: str
    run: StageFn
    help: str
    section: str | None = None
    split: str = "train"
    produces: Product | None = None
    any_split: bool = False
    when: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class Command:
    """An extra sub-command of a method: ``add_arguments(parser)``, then ``run(args, pipeline) -> exit code``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, "Pipeline"], int]


@dataclass(frozen=True)
class Method:
    """A registered method: its config sections, ordered stages and extra commands.

    ``check(cfg, classes)`` (optional) rejects settings that do not fit the dataset's classes
    before any stage runs, instead of after the stages before the one that needs them.
    """

    name: str
    summary: str
    stages: tuple[Stage, ...]
    sections: Mapping[str, type] = field(default_factory=dict)
    commands: tuple[Command, ...] = ()
    check: Callable[[Any, "ClassSet"], None] | None = None

    def stage(self, name: str) -> Stage:
        """The stage called ``name``, or a KeyError listing this method's stages."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"method '{self.name}' has no stage '{name}'; its stages: {self.stage_names}")

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]
