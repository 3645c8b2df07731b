"""File I/O shared by every stage: atomic writes and image/label reading with clear errors.

Every artifact is written to a temporary file in the same folder and renamed into place, so a
crash never leaves a half-written file that a later run would mistake for a finished one.
"""
from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError


class DataFileError(ValueError):
    """An input file that is missing, unreadable or inconsistent; the message names the file."""


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place.

    The file ends with the mode a plain ``open()`` would give it (0666 less the umask), not the
    0600 of the temporary file, so run files are as readable as the logs beside them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str | Path, name: str = "*", *, recursive: bool = False) -> None:
    """Delete the temporary files that ``atomic_write`` left in ``folder`` (and, ``recursive``, its
    subfolders) for ``name`` when killed.

    Call it only where no other process is writing to the folder (a stage's start on the main
    process), since a running writer's temporary file looks the same.
    """
    folder = Path(folder)
    for path in (folder.rglob if recursive else folder.glob)(f".{name}.*.tmp"):
        path.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def atomic_save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` made atomic."""
    atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    """``torch.save`` made atomic (checkpoints survive a crash mid-write)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file fully into an RGB uint8 array (H, W, 3)."""
    with _open(path) as img:
        return np.asarray(img.convert("RGB"))


def read_label_png(path: str | Path) -> np.ndarray:
    """Read a label map (palette or grey PNG) as its raw class indices (H, W) uint8."""
    with _open(path) as img:
        if img.mode not in ("P", "L"):
            raise DataFileError(
                f"{path}: label maps must be palette or greyscale PNGs holding class indices, "
                f"got mode {img.mode}"
            )
        return np.asarray(img)


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) read from the header only."""
    with _open(path, load=False) as img:
        return img.height, img.width


def write_label_png(path: str | Path, label: np.ndarray, palette: list[int]) -> None:
    """Save a class-index map (H, W) uint8 as a palette PNG, atomically."""
    img = Image.fromarray(label.astype(np.uint8), mode="P")
    img.putpalette(palette)
    atomic_write(path, lambda handle: img.save(handle, format="PNG"))


def write_grey_png(path: str | Path, values: np.ndarray) -> None:
    """Save a map (H, W) of values in [0, 1] as an 8-bit greyscale PNG, atomically."""
    img = Image.fromarray((np.clip(values, 0, 1) * 255).round().astype(np.uint8), mode="L")
    atomic_write(path, lambda handle: img.save(handle, format="PNG"))


def _open(path: str | Path, load: bool = True) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    img = None
    try:
        img = Image.open(path)
        if load:
            img.load()
        return img
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        if img is not None:
            img.close()
        raise DataFileError(f"{path}: cannot decode image ({err}); re-export or remove it") from err
