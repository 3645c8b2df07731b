"""What every dataset yields (:class:`Sample`) and the base class the readers share.

A reader builds its index (ids, image labels) at construction without decoding images.
Problems met while indexing (duplicate ids, unknown class names, unreadable label sources) are
collected as :class:`Problem` rather than raised one at a time, so ``wsss check-data`` can list
them all; with ``strict=True`` (the default) construction raises one ``DataFileError`` that
lists them.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsss.data.classes import ClassSet
from wsss.io import DataFileError, read_image, read_label_png

MAX_LISTED = 20  # problems shown in a strict-mode error; check-data lists them all


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: the file it is in and what to do about it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Sample:
    """One image with its multi-hot foreground labels and, when available, its mask."""

    image: np.ndarray  # (H, W, 3) uint8
    labels: np.ndarray  # (num_foreground,) float32
    mask: np.ndarray | None  # (H, W) uint8 mask values, 255 = void
    id: str


class SegDataset(ABC):
    """Ids, classes and image labels of one split; pixels are read on access."""

    def __init__(
        self,
        ids: list[str],
        classes: ClassSet,
        labels: dict[str, np.ndarray],
        *,
        source: Path,
        has_masks: bool,
        problems: list[Problem],
        strict: bool,
    ) -> None:
        self.ids = ids
        self.classes = classes
        self.source = source  # the file that lists the ids (split file or labels.csv)
        self.has_masks = has_masks
        self.problems = problems
        self._labels = labels
        if strict:
            self.raise_problems()

    def raise_problems(self) -> None:
        """One DataFileError listing the problems met while indexing, if there are any."""
        if self.problems:
            raise DataFileError(_describe(self.problems, f"dataset listed in {self.source}"))

    @abstractmethod
    def image_path(self, id: str) -> Path:
        """Where the image of ``id`` is (or should be)."""

    @abstractmethod
    def mask_path(self, id: str) -> Path | None:
        """Where the mask of ``id`` is (or should be), or the file it is rendered from (COCO's
        annotations); None when the split has no masks."""

    def read_mask(self, id: str) -> np.ndarray | None:
        """The (H, W) uint8 mask of ``id`` (255 = void); None when the split has no masks.
        Readers that render masks instead of reading a PNG override it."""
        path = self.mask_path(id)
        return None if path is None else read_label_png(path)

    def subset(self, ids: list[str]) -> SegDataset:
        """The same dataset restricted to ``ids`` (``--skip-bad``), its problems settled by the caller."""
        part = copy.copy(self)
        part.ids, part.problems = list(ids), []
        return part

    def labels_of(self, id: str) -> np.ndarray:
        """Multi-hot foreground labels from the index (no file is read)."""
        return self._labels[id].copy()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        id = self.ids[index]
        return Sample(read_image(self.image_path(id)), self.labels_of(id), self.read_mask(id), id)


def _describe(problems: list[Problem], what: str) -> str:
    """One error message listing the first problems and how to see the rest."""
    lines = [f"{len(problems)} problem(s) in {what}:"]
    lines += [f"  {problem}" for problem in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
    lines.append("run `wsss check-data` to list every problem")
    return "\n".join(lines)


def read_id_list(path: Path) -> tuple[list[str], list[Problem]]:
    """Ids of a split file (first token of each line, a path's stem allowed), without
    duplicates; each repeated id is a Problem. An empty file is a DataFileError naming it."""
    ids: dict[str, int] = {}
    problems = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        id = Path(line.split()[0]).stem
        if id in ids:
            problems.append(Problem(path, f"line {number}: duplicate id '{id}' (first on line "
                                          f"{ids[id]}); remove the repeated line"))
        else:
            ids[id] = number
    if not ids:
        raise DataFileError(f"{path}: the split list is empty; write one image id per line")
    return list(ids), problems


def problem_from_error(path: Path, err: DataFileError) -> Problem:
    """The Problem for a file that ``wsss.io`` could not read (its message names the file)."""
    return Problem(path, str(err).removeprefix(f"{path}: "))


def resolve_path(root: Path, path: str | Path) -> Path:
    """A config path as given when absolute or present, else relative to the dataset root."""
    path = Path(path)
    return path if path.is_absolute() or path.exists() else root / path


def require_dir(folder: Path, what: str) -> Path:
    """``folder`` itself, or a DataFileError naming it."""
    if not folder.is_dir():
        raise DataFileError(f"{folder}: {what} not found")
    return folder


def available_splits(folder: Path) -> str:
    """Comma-separated split names found in ``folder`` (for error messages)."""
    names = sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []
    return ", ".join(names) or "none"


def encode_names(
    names: Iterable[str], classes: ClassSet, path: Path, where: str
) -> tuple[np.ndarray, list[Problem]]:
    """Multi-hot labels from class names; each unknown name is a Problem at ``path``."""
    indices, problems = [], []
    for name in names:
        try:
            indices.append(classes.index_of(name))
        except KeyError as err:
            problems.append(Problem(path, f"{where}{err.args[0]}; fix the name or add the "
                                          f"class to classes.txt"))
    return classes.multi_hot(indices), problems
