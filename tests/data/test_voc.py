import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.config import DataConfig
from wsss.data import build_dataset
from wsss.data.classes import VOC_CLASSES
from wsss.data.voc import VocDataset
from wsss.io import DataFileError, write_label_png

# id -> (mask values present besides background, object names in its XML file)
TINY = {
    "a": ([15], ["person", "bicycle"]),
    "b": ([8, 12], ["cat", "dog"]),
    "c": ([], ["person"]),  # mask is background + void only
    "d": ([7], ["car"]),
}
SHARED = Path(os.environ.get("WSSS_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))


def write_voc(root: Path, with_xml: bool = False) -> Path:
    """A VOC layout of 32x32 images: JPEGs, palette masks, splits, optional XML files."""
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for id, (values, objects) in TINY.items():
        Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(root / "JPEGImages" / f"{id}.jpg")
        mask = np.zeros((32, 32), np.uint8)
        mask[:, 30:] = 255
        for i, value in enumerate(values):
            mask[i * 8:(i + 1) * 8, :8] = value
        write_label_png(root / "SegmentationClass" / f"{id}.png", mask, VOC_CLASSES.palette())
        if with_xml:
            write_xml(root / "Annotations" / f"{id}.xml", objects)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("a\nb\nc\nd\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("d\n")
    return root


def write_xml(path: Path, names: list[str]) -> None:
    path.parent.mkdir(exist_ok=True)
    objects = "".join(f"<object><name>{n}</name><difficult>0</difficult></object>" for n in names)
    path.write_text(f"<annotation><filename>{path.stem}.jpg</filename>{objects}</annotation>")


def names_of(ds: VocDataset, id: str) -> list[str]:
    return [ds.classes.foreground_names[k] for k in np.flatnonzero(ds.labels_of(id))]


@pytest.fixture
def tiny_voc(tmp_path: Path) -> Path:
    return write_voc(tmp_path / "voc")


def test_labels_from_masks_are_the_present_classes(tiny_voc: Path):
    ds = VocDataset(tiny_voc, "train")
    assert ds.ids == ["a", "b", "c", "d"] and ds.has_masks
    assert ds.classes == VOC_CLASSES
    assert names_of(ds, "a") == ["person"]
    assert names_of(ds, "b") == ["cat", "dog"]
    assert names_of(ds, "c") == []
    assert ds.labels_of("b").dtype == np.float32 and ds.labels_of("b").shape == (20,)


def test_labels_auto_uses_xml_when_annotations_exist(tmp_path: Path):
    ds = VocDataset(write_voc(tmp_path / "voc", with_xml=True), "train")
    assert names_of(ds, "a") == ["bicycle", "person"]
    assert names_of(ds, "c") == ["person"]
    masks = VocDataset(tmp_path / "voc", "train", labels="masks")
    assert names_of(masks, "a") == ["person"]


def test_labels_from_a_labels_file(tiny_voc: Path):
    (tiny_voc / "cls_labels.csv").write_text("id,tags\na,sheep;cow\nb,\nc,train\nd,car\n")
    ds = VocDataset(tiny_voc, "train", labels="cls_labels.csv")
    assert names_of(ds, "a") == ["cow", "sheep"]
    assert names_of(ds, "b") == []
    assert names_of(ds, "c") == ["train"]


def test_sample_holds_image_labels_and_mask(tiny_voc: Path):
    sample = VocDataset(tiny_voc, "val")[0]
    assert sample.id == "d"
    assert sample.image.shape == (32, 32, 3) and sample.image.dtype == np.uint8
    assert sample.mask.shape == (32, 32) and set(np.unique(sample.mask)) == {0, 7, 255}
    assert sample.labels.nonzero()[0].tolist() == [6]  # car


def test_missing_split_lists_the_available_ones(tiny_voc: Path):
    with pytest.raises(DataFileError, match="split 'train_aug' not found; available splits: train, val"):
        VocDataset(tiny_voc, "train_aug")


def test_mask_dir_auto_prefers_aug_only_when_it_holds_the_split(tiny_voc: Path):
    aug = tiny_voc / "SegmentationClassAug"
    aug.mkdir()
    (aug / "d.png").write_bytes((tiny_voc / "SegmentationClass" / "d.png").read_bytes())
    assert VocDataset(tiny_voc, "val").mask_path("d") == aug / "d.png"
    assert VocDataset(tiny_voc, "train").mask_path("a") == tiny_voc / "SegmentationClass" / "a.png"
    named = VocDataset(tiny_voc, "val", mask_dir="SegmentationClass")
    assert named.mask_path("d") == tiny_voc / "SegmentationClass" / "d.png"


def test_no_masks_and_no_xml_is_a_clear_error(tiny_voc: Path):
    for mask in (tiny_voc / "SegmentationClass").iterdir():
        mask.unlink()
    with pytest.raises(DataFileError, match="cannot be derived; set data.labels"):
        VocDataset(tiny_voc, "train")


def test_classes_txt_without_background_maps_mask_values_directly(tiny_voc: Path):
    (tiny_voc / "classes.txt").write_text("\n".join(f"c{i}" for i in range(16)) + "\n")
    ds = VocDataset(tiny_voc, "train")
    assert not ds.classes.has_background
    assert names_of(ds, "a") == ["c0", "c15"]  # value 0 is a class here, not background


def test_unknown_xml_names_are_all_reported(tmp_path: Path):
    root = write_voc(tmp_path / "voc", with_xml=True)
    write_xml(root / "Annotations" / "b.xml", ["cat", "kitty"])
    write_xml(root / "Annotations" / "d.xml", ["automobile"])
    with pytest.raises(DataFileError, match="2 problem") as err:
        VocDataset(root, "train")
    assert str(root / "Annotations" / "b.xml") in str(err.value)
    lenient = VocDataset(root, "train", strict=False)
    assert [p.path.name for p in lenient.problems] == ["b.xml", "d.xml"]
    assert "unknown class 'kitty'" in lenient.problems[0].message
    assert names_of(lenient, "b") == ["cat"]


def test_duplicate_ids_are_dropped_and_reported(tiny_voc: Path):
    (tiny_voc / "ImageSets" / "Segmentation" / "train.txt").write_text("a\nb\na\n")
    ds = VocDataset(tiny_voc, "train", strict=False)
    assert ds.ids == ["a", "b"]
    assert "line 3: duplicate id 'a'" in str(ds.problems[0])


def test_build_dataset_dispatches_on_kind(tiny_voc: Path):
    ds = build_dataset(DataConfig(kind="voc", root=str(tiny_voc)), "val")
    assert isinstance(ds, VocDataset) and ds.ids == ["d"]
    with pytest.raises(ValueError, match="known kinds: coco, demo, folder, voc"):
        build_dataset(DataConfig(kind="cityscapes", root=str(tiny_voc)), "val")


@pytest.mark.parametrize("progress", [True, False])
@pytest.mark.parametrize("labels", ["masks", "xml"])
def test_build_dataset_progress_flag_reaches_the_label_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           progress: bool, labels: str):
    enabled = []
    monkeypatch.setattr("wsss.data.voc.progress_bar",
                        lambda items, desc, shown=True, total=None: enabled.append(shown) or items)
    root = write_voc(tmp_path / "voc", with_xml=True)
    ds = build_dataset(DataConfig(kind="voc", root=str(root), labels=labels), "train", progress=progress)
    assert enabled == [progress] and len(ds) == 4


@pytest.mark.parametrize("name, has_background", [("coco_voc_mini", True), ("msrc", False)])
def test_shared_real_data_labels_from_masks(name: str, has_background: bool):
    root = SHARED / "data" / name
    if not root.is_dir():
        pytest.skip(f"{root} not available")
    ds = build_dataset(DataConfig(kind="voc", root=str(root)), "train")
    assert ds.classes.has_background == has_background
    labels = np.stack([ds.labels_of(id) for id in ds.ids])
    assert labels.sum(1).min() >= 1  # every training image has at least one class
    sample = ds[0]
    present = ds.classes.labels_from_mask(sample.mask)
    assert np.array_equal(present, sample.labels)
    assert sample.mask.shape == sample.image.shape[:2]


def test_empty_split_list_is_named_not_the_annotations(tiny_voc: Path):
    split = tiny_voc / "ImageSets" / "Segmentation" / "train.txt"
    split.write_text("")
    with pytest.raises(DataFileError) as err:
        VocDataset(tiny_voc, "train", strict=False)
    assert str(err.value) == f"{split}: the split list is empty; write one image id per line"
