from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsss.data.augmented import AugmentedDataset
from wsss.data.sources import FloatMaps, LabelMaps
from wsss.data.transforms import TrainTransform
from wsss.data.voc import VocDataset

TRANSFORM = TrainTransform(crop_size=48, resize_long=(40, 80), flip=True, color_jitter=None)


@pytest.fixture
def demo_train(demo_root: Path) -> VocDataset:
    return VocDataset(demo_root, "train", progress=False)


def test_items_hold_image_labels_id_and_each_source_by_name(demo_train: VocDataset, tmp_path: Path):
    for id in demo_train.ids:  # saliency: the foreground of the mask, as a grey PNG
        mask = np.asarray(Image.open(demo_train.mask_path(id)))
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8), mode="L").save(tmp_path / f"{id}.png")
    sources = {"mask": LabelMaps(demo_train.mask_path(demo_train.ids[0]).parent), "saliency": FloatMaps(tmp_path)}
    item = AugmentedDataset(demo_train, TRANSFORM, seed=1, sources=sources)[(0, 2)]
    assert set(item) == {"image", "labels", "id", "epoch", "mask", "saliency"}
    assert item["id"] == demo_train.ids[2]
    assert torch.equal(item["labels"], torch.from_numpy(demo_train.labels_of(item["id"])))
    assert item["mask"].shape == (48, 48) and item["mask"].dtype == torch.int64
    assert item["saliency"].shape == (1, 48, 48) and item["saliency"].dtype == torch.float32
    foreground = (item["mask"] > 0) & (item["mask"] != 255)
    agree = (item["saliency"][0] > 0.5) == foreground  # both got the same crop (bilinear blurs edges)
    assert foreground.any() and agree.float().mean() > 0.95


def test_same_key_same_item_and_no_sources_gives_image_only(demo_train: VocDataset):
    dataset = AugmentedDataset(demo_train, TRANSFORM, seed=1)
    first, again, other = dataset[(3, 1)], dataset[(3, 1)], dataset[(4, 1)]
    assert set(first) == {"image", "labels", "id", "epoch"}
    assert torch.equal(first["image"], again["image"]) and not torch.equal(first["image"], other["image"])


def test_source_names_must_not_shadow_item_keys(demo_train: VocDataset, tmp_path: Path):
    with pytest.raises(ValueError, match=r"\['labels'\] clash"):
        AugmentedDataset(demo_train, TRANSFORM, seed=0, sources={"labels": LabelMaps(tmp_path)})
