"""Quiet-aware progress bars: shown only when asked for and stderr is a terminal."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T] | None, desc: str, enabled: bool = True, total: int | None = None) -> tqdm:
    """A tqdm bar over ``items``, shown only when ``enabled`` and stderr is a terminal."""
    show = enabled and sys.stderr.isatty()
    return tqdm(items, desc=desc, total=total, disable=not show, dynamic_ncols=True, leave=False)
