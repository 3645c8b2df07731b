"""The method registry: the one module that finds and imports methods.

Every package ``wsss/methods/<name>/`` that defines ``METHOD`` is registered on first use; a
method defined elsewhere (a plug-in, a test) calls :func:`register`. The run config of a
method is the shared :class:`~wsss.config.RunConfig` extended with the method's sections.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import NoReturn

from wsss.config import ConfigError, RunConfig
from wsss.methods.base import Method

DEFAULT_METHOD = "psa"  # what a config without a ``method`` key runs
_METHODS: dict[str, Method] = {}
_CONFIG_CLASSES: dict[str, type[RunConfig]] = {}
_discovered = False


def register(method: Method) -> Method:
    """Add ``method`` to the registry (its sections may not shadow the shared ones)."""
    _discover()
    shared = {f.name for f in dataclasses.fields(RunConfig)}
    clash = sorted(shared & set(method.sections))
    if clash:
        raise ValueError(f"method '{method.name}': sections {clash} are shared sections of every run")
    _METHODS[method.name] = method
    _CONFIG_CLASSES.pop(method.name, None)
    return method


def unregister(name: str) -> None:
    """Remove a method (tests that register a toy method clean up with this)."""
    _METHODS.pop(name, None)
    _CONFIG_CLASSES.pop(name, None)


def all_methods() -> list[Method]:
    """Every registered method, built-in ones first in name order."""
    _discover()
    return list(_METHODS.values())


def get_method(name: str) -> Method:
    """The method called ``name``, or a KeyError listing the registered ones."""
    _discover()
    if name not in _METHODS:
        raise KeyError(f"unknown method '{name}'; available: {sorted(_METHODS)} (see `wsss methods`)")
    return _METHODS[name]


def config_class(name: str) -> type[RunConfig]:
    """``RunConfig`` with the sections of method ``name`` added as fields with their defaults."""
    try:
        method = get_method(name)
    except KeyError as err:
        raise ConfigError(err.args[0]) from None
    if name not in _CONFIG_CLASSES:
        fields = [("method", str, dataclasses.field(default=name))]
        fields += [(key, section, dataclasses.field(default_factory=section)) for key, section in method.sections.items()]
        cls = dataclasses.make_dataclass(f"{name.title().replace('_', '')}RunConfig", fields, bases=(RunConfig,),
                                         frozen=True)
        cls.__module__ = __name__
        _CONFIG_CLASSES[name] = cls
    return _CONFIG_CLASSES[name]


def foreign_section_error(key: str, method: str) -> NoReturn:
    """Raise the ConfigError for a top-level key that ``method``'s config lacks, naming its owner."""
    owners = sorted(m.name for m in all_methods() if key in m.sections)
    if owners:
        raise ConfigError(f"config section '{key}' belongs to method {' / '.join(repr(o) for o in owners)}, "
                          f"not to method '{method}'; set method={owners[0]} or remove the section")
    known = ", ".join(f.name for f in dataclasses.fields(config_class(method)))
    raise ConfigError(f"unknown config key '{key}'; known keys here: {known}")


def _discover() -> None:
    """Import every package under ``wsss/methods/`` that defines ``METHOD`` and register it."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.ispkg:
            module = importlib.import_module(f"{__name__}.{info.name}")
            if isinstance(getattr(module, "METHOD", None), Method):
                register(module.METHOD)
