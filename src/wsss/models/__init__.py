"""Backbones and the task networks built on them (see ``wsss.models.factory``).

Every module of this package is imported with it, so a network class decorated with
``@register_model`` in a new file ``models/<name>.py`` is known to the factory (and to
``model_from_checkpoint``) with no other edit.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
