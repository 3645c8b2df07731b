"""Find every problem in a dataset split, each with its file and a hint how to fix it.

Build the dataset with ``strict=False`` so indexing problems (duplicate ids, unknown class
names, unreadable annotations) are collected instead of raised; this module adds what only
reading every file finds: missing or undecodable images (pixels fully decoded, so truncated
JPEGs are caught), missing masks, masks of the wrong size or with values outside the classes.
With ``workers`` the files are read in that many loader processes (COCO's 82k training images
take tens of minutes in one).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from wsss.constants import IGNORE
from wsss.data.base import Problem, SegDataset, problem_from_error
from wsss.io import DataFileError, read_image
from wsss.progress import progress as progress_bar

__all__ = ["Problem", "check_dataset"]


def check_dataset(ds: SegDataset, *, progress: bool = True, workers: int = 0) -> list[Problem]:
    """Every problem of ``ds``: those met while indexing, then those of each image and mask (in
    split order, read by ``workers`` loader processes)."""
    problems = list(ds.problems)
    reported = {problem.path for problem in problems}  # files already found unreadable
    items = DataLoader(_ItemChecks(ds), batch_size=None, num_workers=workers, collate_fn=_as_is)
    for found in progress_bar(items, "checking files", progress, total=len(ds.ids)):
        problems += [p for p in found if p.path not in reported]
    return problems


class _ItemChecks(Dataset):
    """The problems of one image and its mask per index, so loader workers can read the files."""

    def __init__(self, ds: SegDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds.ids)

    def __getitem__(self, i: int) -> list[Problem]:
        return _check_item(self.ds, self.ds.ids[i])


def _as_is(problems: list[Problem]) -> list[Problem]:
    return problems


def _check_item(ds: SegDataset, id: str) -> list[Problem]:
    listed_in = f"add it or remove '{id}' from {ds.source}"
    image_path = ds.image_path(id)
    image, problems = _read(lambda: read_image(image_path), image_path, f"image not found; {listed_in}")
    mask_path = ds.mask_path(id)
    if mask_path is None:
        return problems
    mask, mask_problems = _read(lambda: ds.read_mask(id), mask_path,
                                f"mask not found while other images of this split have one; {listed_in}")
    problems += mask_problems
    if mask is not None:
        problems += _check_mask(mask, mask_path, ds.classes.num_classes)
        problems += _check_tags_against_mask(ds, id, mask, mask_path)
    if mask is not None and image is not None and mask.shape != image.shape[:2]:
        problems.append(Problem(mask_path, f"mask is {_size(mask)} but image {image_path.name} is "
                                           f"{_size(image)}; re-export the mask at the image size"))
    return problems


def _read(
    read: Callable[[], np.ndarray], path: Path, missing: str
) -> tuple[np.ndarray | None, list[Problem]]:
    """What ``read`` decodes from ``path``, or None and the reason it cannot be read."""
    if not path.is_file():
        return None, [Problem(path, missing)]
    try:
        return read(), []
    except DataFileError as err:
        return None, [problem_from_error(path, err)]


def _check_mask(mask: np.ndarray, path: Path, num_classes: int) -> list[Problem]:
    values = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    bad = [int(v) for v in values if v >= num_classes and v != IGNORE]
    if not bad:
        return []
    return [Problem(path, f"mask values {bad} out of range: valid are 0..{num_classes - 1} "
                          f"(the classes) and {IGNORE} (void); check classes.txt or re-export the mask")]


def _check_tags_against_mask(ds: SegDataset, id: str, mask: np.ndarray, path: Path) -> list[Problem]:
    """An image with no tags whose mask holds classes: its labels were left out by mistake."""
    if ds.labels_of(id).any():
        return []
    present = np.flatnonzero(ds.classes.labels_from_mask(mask))
    if not present.size:
        return []
    names = ", ".join(ds.classes.foreground_names[k] for k in present)
    return [Problem(path, f"mask holds {names} but the image labels of '{id}' hold no class; add "
                          f"them to its tags (or fix the mask)")]


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]} (width x height)"
