"""What a stage receives besides its own config section: the run, the runtime, earlier outputs."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from wsss.config import DataConfig, RunConfig, to_dict
from wsss.data import ClassSet, SegDataset, build_dataset
from wsss.engine.runtime import Runtime
from wsss.models.factory import create_model
from wsss.stages.common import fingerprint, raise_file_problems
from wsss.stages.layout import RunPaths
from wsss.stages.skipping import usable_ids


@dataclass
class StageContext:
    """One stage's view of the run: shared config sections, paths, runtime, earlier stages' outputs.

    ``split`` is the split this stage works on; ``outputs`` maps the name of every stage that
    ran before it to what that stage returned.
    """

    cfg: RunConfig
    runtime: Runtime
    paths: RunPaths
    stage: str
    split: str
    outputs: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    datasets: dict[str, SegDataset] = field(default_factory=dict)
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)
    skip_bad: bool = False
    usable: dict[str, list[str]] = field(default_factory=dict)

    def dataset(self, split: str | None = None, *, check: bool = False) -> SegDataset:
        """The dataset of ``split`` (default: this stage's), refused while it has problems.

        ``check`` decodes every file first and lists every problem found. With ``skip_bad`` every
        file is decoded once per split and the images with bad files are left out instead.
        """
        split = split or self.split
        dataset = self._indexed(split)
        if self.skip_bad:
            if split not in self.usable:
                self.usable[split] = usable_ids(dataset, self.cfg.data.root, split, self.paths, self.runtime)
            return dataset.subset(self.usable[split])
        if check:
            raise_file_problems(dataset, self.cfg.data.root, split, self.runtime.progress,
                                self.runtime.workers)
        dataset.raise_problems()
        return dataset

    @property
    def classes(self) -> ClassSet:
        """The dataset's classes, read from its index (its problems are raised by ``dataset()``)."""
        return self._indexed(self.split).classes

    def fingerprint(self, split: str | None = None, **parts: Any) -> dict[str, Any]:
        """What this stage's outputs depend on: the data config, the dataset's identity, ``parts``."""
        split = split or self.split
        if split not in self.identities:
            self.identities[split] = dataset_identity(self.cfg, self._indexed(split))
        return fingerprint(data=absolute_root(self.cfg.data), **self.identities[split], **parts)

    def _indexed(self, split: str) -> SegDataset:
        """The split's index, problems and all, built once per pipeline."""
        if split not in self.datasets:
            self.datasets[split] = build_dataset(self.cfg.data, split, strict=False, progress=self.runtime.progress)
        return self.datasets[split]

    def create_model(self, kind: str, *, backbone: str | None = None, weights: str | None = None,
                     pretrained: bool | None = None, output_stride: int | None = None, **kwargs: Any) -> nn.Module:
        """A task network (``models.factory``) on the run's backbone and its ``model.weights``, or on
        ``backbone`` with its own ``weights`` file; at ``model.output_stride`` unless given another;
        ImageNet weights unless told not to."""
        model = self.cfg.model
        if backbone is None:
            backbone, weights = model.backbone, model.weights
        return create_model(kind, backbone=backbone, output_stride=output_stride or model.output_stride,
                            pretrained=model.pretrained if pretrained is None else pretrained,
                            weights=weights, **kwargs)


def absolute_root(data: DataConfig) -> DataConfig:
    """``data`` with an absolute root, so ``../shared/data/x`` from one folder and the same
    ``/work/shared/data/x`` name the same outputs (symbolic links are not followed)."""
    return replace(data, root=os.path.abspath(data.root))


def dataset_identity(cfg: RunConfig, dataset: SegDataset) -> dict[str, Any]:
    """The generator's settings for the demo set, else the split's ids and files (names and sizes).

    Stored in every fingerprint, so outputs of another dataset under the same run name are never
    reused: a changed ``demo.*`` key is named, and a changed file list or file is detected.
    """
    if cfg.data.kind == "demo":
        return {"demo": to_dict(cfg.demo)}
    digest = hashlib.sha1()
    for image_id in dataset.ids:
        paths = [dataset.image_path(image_id), dataset.mask_path(image_id)]
        sizes = [f"{p.name}:{p.stat().st_size}" if p is not None and p.is_file() else "-" for p in paths]
        digest.update(f"{image_id} {' '.join(sizes)}\n".encode())
    source = os.path.abspath(dataset.source)
    return {"dataset": {"list": source, "images": len(dataset.ids), "files_sha1": digest.hexdigest()}}
