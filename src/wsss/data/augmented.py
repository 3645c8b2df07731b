"""Training view of a dataset: keyed by (epoch, index) so augmentation is reproducible.

The random parameters of each sample come from ``default_rng([seed, epoch, index])``, so the
same key gives the same crop in any worker process and after a resume.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsss.data.base import SegDataset
from wsss.io import read_image

MaskSource = Callable[[str], np.ndarray]


class AugmentedDataset(Dataset):
    """Items: ``image`` (3,H,W) in [0,1], ``labels`` (C,), ``id``, and ``mask`` when a source is given.

    ``mask_source(id)`` supplies the per-pixel target (pseudo labels, seeds); the dataset's own
    ground truth is never read for training.
    """

    def __init__(self, dataset: SegDataset, transform: Callable[..., dict[str, Any]], seed: int,
                 mask_source: MaskSource | None = None) -> None:
        self.dataset, self.transform, self.seed, self.mask_source = dataset, transform, seed, mask_source

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        image_id = self.dataset.ids[index]
        image = read_image(self.dataset.image_path(image_id))
        mask = self.mask_source(image_id) if self.mask_source else None
        item = self.transform(image, mask, np.random.default_rng([self.seed, epoch, index]))
        item["labels"] = torch.from_numpy(self.dataset.labels_of(image_id))
        item["id"] = image_id
        return item
