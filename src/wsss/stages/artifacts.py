"""Per-image artifact folders (cams/, pseudo/, preds/) that resume safely.

A folder records the configuration it is made with (``.config.json``) before its first file,
so a re-run with another configuration is refused instead of mixing outputs. Each image's file
is written atomically; ``manifest.json`` is written last and marks the folder complete.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wsss.engine.runtime import Runtime, barrier
from wsss.io import atomic_write_text, remove_stale_temporaries


class ArtifactMismatchError(RuntimeError):
    """Existing outputs were made with another configuration."""


class ArtifactDir:
    """One folder of per-image outputs named ``<id><suffix>``."""

    def __init__(self, path: Path, meta: dict[str, Any], suffix: str) -> None:
        self.path, self.meta, self.suffix = Path(path), meta, suffix
        self.config_path = self.path / ".config.json"
        self.manifest_path = self.path / "manifest.json"

    def file(self, image_id: str) -> Path:
        return self.path / f"{image_id}{self.suffix}"

    def is_complete(self, ids: list[str]) -> bool:
        """True when the manifest exists for this configuration and lists exactly ``ids``."""
        if not self.manifest_path.is_file():
            return False
        self._check_config()
        manifest = json.loads(self.manifest_path.read_text())
        return manifest.get("ids") == ids

    def begin(self) -> None:
        """Create the folder for this configuration, or check an interrupted one matches it."""
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        if self.config_path.is_file():
            self._check_config()
        else:
            atomic_write_text(self.config_path, json.dumps(self.meta, indent=1))
        self.manifest_path.unlink(missing_ok=True)

    def pending(self, ids: list[str]) -> list[str]:
        """The ids whose file is not written yet (an interrupted run continues from there)."""
        return [i for i in ids if not self.file(i).is_file()]

    def finish(self, ids: list[str], **summary: Any) -> None:
        missing = self.pending(ids)
        if missing:
            raise RuntimeError(f"{self.path}: {len(missing)} outputs missing, e.g. {self.file(missing[0])}")
        atomic_write_text(self.manifest_path, json.dumps({"ids": ids, **summary}, indent=1))

    def start(self, ids: list[str], runtime: Runtime) -> list[str]:
        """Begin (or continue) the folder; returns this process's share of the missing ids."""
        if runtime.is_main:
            self.begin()
        barrier(runtime)
        pending = self.pending(ids)
        barrier(runtime)  # every rank lists the same missing ids before any rank writes one
        return pending[runtime.rank::runtime.world_size]

    def complete(self, ids: list[str], runtime: Runtime, **summary: Any) -> None:
        """Once every process has written its share, mark the folder complete."""
        barrier(runtime)
        if runtime.is_main:
            self.finish(ids, **summary)
        barrier(runtime)

    def _check_config(self) -> None:
        if not self.config_path.is_file():
            return
        refuse_mismatch(json.loads(self.config_path.read_text()), json.loads(json.dumps(self.meta)),
                        f"{self.path} holds outputs", "folder")


def refuse_mismatch(saved: Any, current: Any, what: str, kind: str) -> None:
    """Raise ``ArtifactMismatchError`` naming the keys where ``saved`` and ``current`` differ.

    ``what`` starts the message (the path and what it holds), ``kind`` is what to delete ("file", "folder").
    """
    changed = ", ".join(config_diff(saved, current))
    if changed:
        raise ArtifactMismatchError(f"{what} made with another configuration (differs in: {changed}); "
                                    f"use another run name (name=...) or delete the {kind}")


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between a saved fingerprint and the current one.

    A key only the saved one has is a setting that no longer counts (an older wsss stored
    prediction settings in training fingerprints): it is not a difference.
    """
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [prefix.rstrip(".") or "value"]
    keys = sorted(new)
    return [d for k in keys for d in config_diff(old.get(k), new.get(k), f"{prefix}{k}.")]
