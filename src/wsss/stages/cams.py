"""Stage ``cams``: multi-scale + flip CAMs of the present classes, saved per image as ``.npz``.

File format (``cams/<split>/<id>.npz``): ``cams`` float16 (K, H, W) at image size, each class
normalised by its spatial maximum; ``keys`` int16 (K,) the foreground class indices of the
K classes present in the image's labels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wsss.config import CamConfig, ClsConfig, DataConfig, ModelConfig
from wsss.data import SegDataset
from wsss.data.transforms import to_tensor
from wsss.engine.checkpoint import load_checkpoint
from wsss.progress import progress
from wsss.engine.runtime import Runtime
from wsss.io import atomic_save_npz, read_image
from wsss.ops.cam import multiscale_maps, normalize_cams
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.classification import classifier_path
from wsss.stages.common import build_cam_net, fingerprint, open_dataset


def cam_dir(run_dir: Path, split: str) -> Path:
    return Path(run_dir) / "cams" / split


def load_cams(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(cams float32 (K, H, W), keys int64 (K,)) from one ``.npz`` file."""
    with np.load(path) as data:
        return data["cams"].astype(np.float32), data["keys"].astype(np.int64)


def compute_cams(data: DataConfig, model: ModelConfig, cls: ClsConfig, cam: CamConfig, runtime: Runtime,
                 run_dir: Path, split: str) -> ArtifactDir:
    """Write the CAMs of every image of ``split``; finished images are skipped on a re-run."""
    state = load_checkpoint(classifier_path(run_dir))
    dataset = open_dataset(data, split)
    folder = ArtifactDir(cam_dir(run_dir, split), fingerprint(classifier=state["meta"], cam=cam), ".npz")
    if folder.is_complete(dataset.ids):
        return folder
    pending = folder.start(dataset.ids, runtime)
    net = build_cam_net(model, dataset.classes.num_foreground, dropout=cls.dropout, pretrained=False)
    net.load_state_dict(state["model"])
    net.to(runtime.device).eval()
    with torch.inference_mode():
        for image_id, image, labels in progress(image_loader(dataset, pending, runtime.workers), f"cams {split}",
                                                runtime.progress):
            keys = np.flatnonzero(labels)
            cams = multiscale_maps(net.cams, image.to(runtime.device), cam.scales, cam.flip)
            cams = normalize_cams(cams[torch.as_tensor(keys, device=cams.device)])
            atomic_save_npz(folder.file(image_id), cams=cams.cpu().numpy().astype(np.float16),
                            keys=keys.astype(np.int16))
    folder.complete(dataset.ids, runtime)
    return folder


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
