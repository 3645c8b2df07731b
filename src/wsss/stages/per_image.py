"""The one loop behind every per-image stage: skip finished ids, shard over ranks, write atomically.

A stage supplies ``make_process()``, called only when there is work to do (so a finished folder
costs no network load), returning ``process(id, image, labels) -> (output, note)``. ``output``
is a label map (H, W) uint8, written as a palette PNG, a float map (H, W) in [0, 1], written as
an 8-bit greyscale PNG, or a dict of arrays, written as ``.npz``, as the folder's suffix says; ``note`` (e.g. the refinement that ran, or None) is gathered into
the manifest. The manifest is written last, once every rank has written its share.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wsss.data import SegDataset
from wsss.data.transforms import to_tensor
from wsss.engine.runtime import Runtime
from wsss.io import atomic_save_npz, read_image, write_grey_png, write_label_png
from wsss.progress import progress
from wsss.stages.artifacts import ArtifactDir

Process = Callable[[str, torch.Tensor, np.ndarray], tuple[Any, str | None]]


def map_images(folder: ArtifactDir, dataset: SegDataset, runtime: Runtime, make_process: Callable[[], Process],
               desc: str) -> ArtifactDir:
    """Write ``folder.file(id)`` for every image of ``dataset`` that lacks it; returns the folder."""
    if folder.is_complete(dataset.ids):
        return folder
    pending = folder.start(dataset.ids, runtime)
    notes: set[str] = set()
    if pending:
        process = make_process()
        with torch.inference_mode():
            for image_id, image, labels in progress(image_loader(dataset, pending, runtime.workers), desc,
                                                    runtime.progress):
                output, note = process(image_id, image, labels)
                _write(folder, image_id, output, dataset)
                if note is not None:
                    notes.add(note)
    folder.complete(dataset.ids, runtime, notes=sorted(notes))
    return folder


def _write(folder: ArtifactDir, image_id: str, output: Any, dataset: SegDataset) -> None:
    if folder.suffix == ".npz":
        atomic_save_npz(folder.file(image_id), **output)
    elif np.issubdtype(output.dtype, np.floating):
        write_grey_png(folder.file(image_id), output)
    else:
        write_label_png(folder.file(image_id), output, dataset.classes.palette())


def image_loader(dataset: SegDataset, ids: list[str], workers: int) -> DataLoader:
    """Yields ``(id, image (3, H, W) in [0, 1], labels)`` one image at a time, decoded in workers."""
    return DataLoader(_Images(dataset, ids), batch_size=None, num_workers=workers)


class _Images(Dataset):
    """Decodes the images of ``ids`` in loader workers."""

    def __init__(self, dataset: SegDataset, ids: list[str]) -> None:
        self.dataset, self.ids = dataset, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor, np.ndarray]:
        image_id = self.ids[i]
        image = to_tensor(read_image(self.dataset.image_path(image_id)))
        return image_id, image, self.dataset.labels_of(image_id)
