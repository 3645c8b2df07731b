"""Typed run configuration: frozen dataclasses per stage, YAML files and dotted overrides.

A run is described by one :class:`RunConfig`. Each stage receives only its own section.
Unknown keys and values of the wrong type are errors that name the key, so a typo in a
YAML file or on the command line never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file or override that cannot be applied."""


# A YAML file's key naming the files it builds on (mmsegmentation's name for the same idea).
BASE_KEY = "_base_"


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    """A ConfigError naming ``key`` unless ``value`` is one of ``choices`` (for ``__post_init__``)."""
    if value not in choices:
        raise ConfigError(f"'{key}' must be one of {list(choices)}, got {value!r}")


def not_fingerprinted(default: Any) -> Any:
    """A field for a setting that changes no trained network (a prediction's scales, a log
    interval): ``fingerprint_dict`` leaves it out, so changing it never retrains; the step that
    uses it records it in its own fingerprint where it matters."""
    return field(default=default, metadata={"fingerprint": False})


@dataclass(frozen=True)
class DemoConfig:
    """The generated demo dataset (written to ``data.root`` when ``data.kind`` is ``demo``)."""

    num_train: int = 200
    num_val: int = 60
    size: int = 128
    num_classes: int = 5
    seed: int = 0


@dataclass(frozen=True)
class DataConfig:
    """Where the images and labels are and how to read them."""

    kind: str = "demo"  # demo | voc | coco | folder
    root: str = "data/demo"
    # the split's own identity (its ids and files) enters every fingerprint, not its name
    train_split: str = not_fingerprinted("train")
    val_split: str = not_fingerprinted("val")
    classes: str | None = None  # classes.txt; default: root/classes.txt, else the VOC classes
    labels: str = "auto"  # auto | xml | masks | path to a cls_labels file
    mask_dir: str = "auto"  # auto | SegmentationClass | SegmentationClassAug | any folder name
    # Training geometry shared by every stage (a stage's train.crop_size / resize_long overrides
    # it): each image's long side is drawn from resize_long, then a square crop is taken. Keep
    # the images' own size inside that range, since CAMs, affinities and predictions are
    # computed at the image's size.
    crop_size: int = 128
    resize_long: tuple[int, int] = (112, 160)


@dataclass(frozen=True)
class ModelConfig:
    """The backbone shared by every network of a run."""

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    weights: str | None = None  # a local weight file (ResNet, ResNet-38)
    output_stride: int = 16


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings common to every training stage."""

    epochs: int = 8
    batch_size: int = 8
    lr: float = 0.01
    weight_decay: float = 5e-4
    momentum: float = 0.9
    poly_power: float = 0.9
    head_lr_mult: float = 10.0
    # biases (1-D parameters) at this multiple of the rate, without weight decay (Ahn & Kwak's
    # released code: 2); None: as the weights
    bias_lr_mult: float | None = None
    crop_size: int | None = None  # None: data.crop_size
    resize_long: tuple[int, int] | None = None  # None: data.resize_long
    flip: bool = True
    color_jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.1)
    amp: bool = True
    checkpoint_every: int = not_fingerprinted(100)
    log_every: int = not_fingerprinted(10)


@dataclass(frozen=True)
class ClsConfig:
    """Classification network trained on image labels (the source of CAMs)."""

    train: TrainConfig = field(default_factory=TrainConfig)
    dropout: float = 0.5
    freeze_bn: bool = False
    frozen: tuple[str, ...] = ()  # backbone modules kept at their ImageNet weights (Ahn & Kwak's ResNet-38: conv1a)


@dataclass(frozen=True)
class CamConfig:
    """Multi-scale CAM inference."""

    # The paper's scales are 1.0/0.5/1.5/2.0 (the VOC configs); on the demo's 128-px images
    # scale 0.5 gives a 4x4 map at stride 16 that only blurs, so the default leaves it out.
    scales: tuple[float, ...] = (1.0, 1.5, 2.0)
    flip: bool = True


@dataclass(frozen=True)
class EvalConfig:
    """Scoring of CAMs and label maps."""

    bg_threshold: float = 0.25
    sweep: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(13))


@dataclass(frozen=True)
class ReportConfig:
    """The HTML report of a run (``wsss report``, and the end of ``wsss run``)."""

    images: int = 48  # gallery rows per split, worst first, so a 10,000-image run stays small; 0: none
    thumbnail: int = 128  # long side of the gallery pictures, pixels

    def __post_init__(self) -> None:
        if self.images < 0:
            raise ConfigError(f"'report.images' must be 0 (no gallery) or more, got {self.images}")
        if self.thumbnail < 16:
            raise ConfigError(f"'report.thumbnail' must be at least 16 pixels, got {self.thumbnail}")


@dataclass(frozen=True)
class RunConfig:
    """The shared sections of a run; the method named by ``method`` adds its own sections.

    ``load_config`` returns an instance of the method's subclass of this class (see
    ``wsss.methods.config_class``), so ``cfg.<section>`` reaches every section of the run.
    """

    name: str = "demo"
    out_dir: str = "runs"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    workers: int = 2
    method: str = ""  # `wsss methods` lists them; a method's config class sets its own name
    data: DataConfig = field(default_factory=DataConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cls: ClsConfig = field(default_factory=ClsConfig)
    cam: CamConfig = field(default_factory=CamConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Build the run config from defaults, an optional YAML file (on top of the files its
    ``_base_`` key names), then ``a.b=value`` overrides.

    The ``method`` key picks the sections beyond the shared ones; a section of another method
    is an error that names that method.
    """
    from wsss.methods import DEFAULT_METHOD, config_class, foreign_section_error  # the registry

    tree: dict[str, Any] = {}
    if path is not None:
        tree = _read_yaml(Path(path))
    for item in overrides:
        _apply_override(tree, item)
    method = tree.get("method", DEFAULT_METHOD)
    if not isinstance(method, str):
        raise ConfigError(f"'method' must be a method name, got {method!r}")
    cls = config_class(method)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in tree:
        if key not in known:
            foreign_section_error(key, method)
    return from_dict(cls, tree)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain builtins (tuples become lists) for YAML files and checkpoints."""
    return _plain(dataclasses.asdict(cfg))


def fingerprint_dict(cfg: Any) -> dict[str, Any]:
    """``to_dict`` without the ``not_fingerprinted`` fields, at any depth: what outputs depend on."""
    tree = {}
    for spec in dataclasses.fields(cfg):
        if spec.metadata.get("fingerprint", True):
            value = getattr(cfg, spec.name)
            tree[spec.name] = fingerprint_dict(value) if dataclasses.is_dataclass(value) else _plain(value)
    return tree


def save_config(cfg: RunConfig, path: Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from wsss.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def from_dict(cls: type, tree: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a nested dict, rejecting unknown keys and bad types."""
    if not isinstance(tree, dict):
        raise ConfigError(f"'{prefix.rstrip('.') or 'config'}' must be a mapping, got {tree!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - set(fields))
    if unknown:
        known = ", ".join(prefix + name for name in fields)
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'; known keys here: {known}")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(hints[name], value, prefix + name) for name, value in tree.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"'{key}' must have {len(args)} items, got {value!r}")
        return tuple(_coerce(a, v, key) for a, v in zip(args, value))
    return _scalar(hint, value, key)


def _scalar(hint: type, value: Any, key: str) -> Any:
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"'{key}' must be {hint.__name__}, got {value!r}")


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's tree on top of the files its ``_base_`` key names (a path or a list of paths,
    relative to the file; later ones win), so configs of one dataset share its sections."""
    if not path.is_file():
        where = f" (the _base_ of {chain[-1]})" if chain else ""
        raise ConfigError(f"config file not found: {path}{where}")
    here = path.resolve()
    if here in chain:
        cycle = " -> ".join(str(p) for p in (*chain, here))
        raise ConfigError(f"config files include each other: {cycle}; remove one of these _base_ keys")
    tree = _parse_yaml(path)
    bases = tree.pop(BASE_KEY, [])
    names = [bases] if isinstance(bases, str) else bases
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"'{BASE_KEY}' in {path} must be a file path or a list of them, got {bases!r}")
    merged: dict[str, Any] = {}
    for name in names:
        merged = _merged(merged, _read_yaml(path.parent / name, (*chain, here)))
    return _merged(merged, tree)


def _merged(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``under``: sections merge key by key, any other value replaces."""
    tree = dict(under)
    for key, value in over.items():
        both_sections = isinstance(value, dict) and isinstance(tree.get(key), dict)
        tree[key] = _merged(tree[key], value) if both_sections else value
    return tree


def _parse_yaml(path: Path) -> dict[str, Any]:
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"cannot parse config file {path}: {err}") from err
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return tree


def _apply_override(tree: dict[str, Any], item: str) -> None:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{item}' must look like section.key=value")
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{item}': '{part}' is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw else ""


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
