"""AuxSegNet's pseudo labels: CAM and saliency fused, and the round-0 stage that fuses them first.

An object (the argmax of the CAMs of the image's classes, ties to the lower class) where the max
CAM exceeds ``cam_threshold`` and the saliency exceeds ``saliency_threshold``; background where
neither does; ignored (255) where only one does (the authors' ``fusion_cam``).
"""
from __future__ import annotations

import numpy as np
import torch

from wsss.data.sources import FloatMaps, read_cams
from wsss.methods.auxsegnet.config import AuxConfig
from wsss.ops.saliency import agree_with_saliency
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images

PSEUDO = "pseudo"  # pseudo/<split>-round<r>/


def round_folder(split: str, round_index: int) -> str:
    """The folder name of one round's outputs under ``pseudo/`` and ``saliency/``."""
    return f"{split}-round{round_index}"


def fuse(cams: np.ndarray, values: np.ndarray, saliency: np.ndarray, cam_threshold: float,
         saliency_threshold: float) -> np.ndarray:
    """The fused label (H, W) uint8 from CAMs (K, H, W) of the mask values ``values`` (K,) and a
    saliency map (H, W) in [0, 1]."""
    if len(values) == 0:
        label = np.zeros(saliency.shape, np.uint8)
    else:
        label = np.where(cams.max(0) > cam_threshold, values[cams.argmax(0)], 0).astype(np.uint8)
    return agree_with_saliency(label, saliency, saliency_threshold)


def fusion_settings(aux: AuxConfig) -> dict[str, float]:
    return {"cam_threshold": aux.cam_threshold, "saliency_threshold": aux.saliency_threshold}


def fuse_round0(aux: AuxConfig, ctx: StageContext) -> ArtifactDir:
    """Write ``pseudo/<split>-round0/`` from the classifier's CAMs and the saliency maps S_0; resumable."""
    cams, saliency = ctx.outputs["cams"], ctx.outputs["saliency"]
    meta = ctx.fingerprint(cams=cams.meta, saliency=saliency.meta, fusion=fusion_settings(aux))
    folder = ArtifactDir(ctx.paths.labels(PSEUDO, round_folder(ctx.split, 0)), meta, ".png")
    classes = ctx.classes

    def make_process() -> Process:
        maps = FloatMaps(saliency.path)

        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, None]:
            cam, keys = read_cams(cams.file(image_id))
            values = np.array([classes.mask_value(int(k)) for k in keys], np.uint8)
            return fuse(cam, values, maps(image_id)[0], aux.cam_threshold, aux.saliency_threshold), None
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, "fuse round 0")
