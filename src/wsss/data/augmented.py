"""Training view of a dataset: keyed by (epoch, index) so augmentation is reproducible.

The random parameters of each sample come from ``default_rng([seed, epoch, index])``, so the
same key gives the same crop in any worker process and after a resume.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsss.data.base import SegDataset
from wsss.data.sources import FloatMaps, LabelMaps, Source
from wsss.io import read_image

RESERVED = ("image", "labels", "id", "epoch")  # item keys a source name must not take


class AugmentedDataset(Dataset):
    """Items: ``image`` (3,H,W) in [0,1], ``labels`` (C,) multi-hot, ``id``, ``epoch`` (for
    schedules such as a warm-up), and one entry per source under its name, transformed jointly
    with the image.

    ``sources`` supply the per-pixel targets (pseudo labels, seeds, CAMs, saliency); label
    sources go to the transform's ``labels``, map sources to its ``maps``; a source with a
    ``finish(tensor) -> tensor`` method has it applied after the transform (e.g. pooling scores
    into a label at a network's stride). The dataset's own ground truth is never read for training.
    """

    def __init__(self, dataset: SegDataset, transform: Callable[..., dict[str, Any]], seed: int,
                 sources: Mapping[str, Source] | None = None) -> None:
        self.sources = dict(sources or {})
        taken = [name for name in self.sources if name in RESERVED]
        if taken:
            raise ValueError(f"source names {taken} clash with the item keys {RESERVED}; rename them")
        self.dataset, self.transform, self.seed = dataset, transform, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        image_id = self.dataset.ids[index]
        image = read_image(self.dataset.image_path(image_id))
        labels = {name: source(image_id) for name, source in self.sources.items() if source.kind == LabelMaps.kind}
        maps = {name: source(image_id) for name, source in self.sources.items() if source.kind == FloatMaps.kind}
        item = self.transform(image, np.random.default_rng([self.seed, epoch, index]), labels=labels, maps=maps)
        for name, source in self.sources.items():
            finish = getattr(source, "finish", None)
            if finish is not None:
                item[name] = finish(item[name])
        item["labels"] = torch.from_numpy(self.dataset.labels_of(image_id))
        item["id"] = image_id
        item["epoch"] = epoch
        return item
