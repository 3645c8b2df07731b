"""Stage ``cams``: multi-scale + flip CAMs of the present classes, saved per image as ``.npz``.

File format (``cams/<split>/<id>.npz``): ``cams`` float16 (K, H, W) at image size, each class
normalised by its spatial maximum; ``keys`` int16 (K,) the foreground class indices of the
K classes present in the image's labels.
"""
from __future__ import annotations

import numpy as np
import torch

from wsss.config import CamConfig
from wsss.engine.checkpoint import load_checkpoint
from wsss.models.factory import model_from_checkpoint
from wsss.ops.cam import multiscale_maps, normalize_cams
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.per_image import Process, map_images

CLASSIFIER = "cls"  # checkpoints/cls.pt


def compute_cams(cam: CamConfig, ctx: StageContext, checkpoint: str = CLASSIFIER) -> ArtifactDir:
    """Write the CAMs of every image of the stage's split from ``checkpoints/<checkpoint>.pt`` (any
    network with a ``cams(x)`` method; default the classifier); resumable."""
    state = load_checkpoint(ctx.paths.checkpoint(checkpoint))
    folder = ArtifactDir(ctx.paths.cams(ctx.split), ctx.fingerprint(classifier=state["meta"], cam=cam), ".npz")

    def make_process() -> Process:
        net = model_from_checkpoint(state).to(ctx.runtime.device).eval()

        def process(image_id: str, image: torch.Tensor, labels: np.ndarray) -> tuple[dict, None]:
            keys = np.flatnonzero(labels)
            cams = multiscale_maps(net.cams, image.to(ctx.runtime.device), cam.scales, cam.flip)
            cams = normalize_cams(cams[torch.as_tensor(keys, device=cams.device)])
            return {"cams": cams.cpu().numpy().astype(np.float16), "keys": keys.astype(np.int16)}, None
        return process

    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, f"cams {ctx.split}")
