"""Where everything of a run lives: the one place that knows the run folder's layout.

```
runs/<name>/config.yaml  metrics.json  log.jsonl  report.html (its pictures in report/)
            run.lock (while a command runs)  skipped-<split>.txt
            checkpoints/<stage net>.pt   (and <net>.last.pt while training)
            cams/<split>/<id>.npz
            <labels>/<split>/<id>.png   (seeds, pseudo, ... : label maps of a method's stages)
            preds/<split>-<ss|ms>[-refinement]/<id>.png
```
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    """Paths inside one run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def log(self) -> Path:
        return self.root / "log.jsonl"

    @property
    def lock(self) -> Path:
        """Held by the command working in the folder (``engine.run_lock``)."""
        return self.root / "run.lock"

    def skipped(self, split: str) -> Path:
        """The ids ``--skip-bad`` left out of ``split``, each with its problem."""
        return self.root / f"skipped-{split}.txt"

    @property
    def report(self) -> Path:
        """``report.html``; its pictures go under :attr:`report_files`."""
        return self.root / "report.html"

    @property
    def report_files(self) -> Path:
        return self.root / "report"

    def checkpoint(self, name: str) -> Path:
        """``checkpoints/<name>.pt``: the final weights of a training stage."""
        return self.root / "checkpoints" / f"{name}.pt"

    def last_checkpoint(self) -> Path | None:
        """The newest ``checkpoints/<net>.last.pt`` (an unfinished training stage's), if any."""
        found = sorted(self.root.glob("checkpoints/*.last.pt"), key=lambda path: path.stat().st_mtime)
        return found[-1] if found else None

    def cams(self, split: str) -> Path:
        return self.root / "cams" / split

    def labels(self, kind: str, split: str) -> Path:
        """``<kind>/<split>``: a folder of label PNGs (``seeds``, ``pseudo``, ...)."""
        return self.root / kind / split

    def preds(self, name: str) -> Path:
        return self.root / "preds" / name
