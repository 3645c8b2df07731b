from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.config import DataConfig, DemoConfig
from wsss.data import Problem, build_dataset, check_dataset, generate_demo
from wsss.io import DataFileError, write_label_png


@pytest.fixture
def demo_root(tmp_path: Path) -> Path:
    """A clean VOC-layout set (8 train images, 5 mask classes) to break in each test."""
    return generate_demo(tmp_path / "demo", DemoConfig(num_train=8, num_val=2, size=48, seed=1))


def voc(root: Path, **kw) -> DataConfig:
    return DataConfig(kind="voc", root=str(root), **kw)


def test_clean_dataset_has_no_problems(demo_root: Path):
    assert check_dataset(build_dataset(voc(demo_root), "train"), progress=False) == []


def test_every_broken_file_is_listed_with_its_path(demo_root: Path):
    images, masks = demo_root / "JPEGImages", demo_root / "SegmentationClass"
    truncated = images / "demo_00001.jpg"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    (images / "demo_00002.jpg").unlink()
    (masks / "demo_00003.png").unlink()
    write_label_png(masks / "demo_00004.png", np.zeros((40, 48), np.uint8), [0] * 768)
    out_of_range = np.zeros((48, 48), np.uint8)
    out_of_range[:2, :2] = [[9, 255], [7, 1]]
    write_label_png(masks / "demo_00005.png", out_of_range, [0] * 768)
    split = demo_root / "ImageSets" / "Segmentation" / "train.txt"
    split.write_text(split.read_text() + "demo_00000\n")

    ds = build_dataset(voc(demo_root, labels="masks"), "train", strict=False)
    problems = check_dataset(ds, progress=False)
    assert check_dataset(ds, progress=False, workers=2) == problems  # read in loader processes, same order
    found = {p.path: p.message for p in problems}
    assert "duplicate id 'demo_00000'" in found[split]
    assert "cannot decode image" in found[truncated]
    assert found[images / "demo_00002.jpg"].startswith("image not found; add it or remove 'demo_00002'")
    assert "mask not found; image labels come from the masks" in found[masks / "demo_00003.png"]
    assert "mask is 48x40 (width x height) but image demo_00004.jpg is 48x48" in found[masks / "demo_00004.png"]
    assert "mask values [7, 9] out of range: valid are 0..5" in found[masks / "demo_00005.png"]
    assert len(problems) == 6


def test_missing_mask_is_reported_when_labels_do_not_come_from_masks(demo_root: Path):
    labels = demo_root / "labels.csv"
    ds = build_dataset(voc(demo_root), "train")
    rows = [f"{id},{';'.join(ds.classes.foreground_names[k] for k in np.flatnonzero(ds.labels_of(id)))}"
            for id in ds.ids]
    labels.write_text("id,tags\n" + "\n".join(rows) + "\n")
    (demo_root / "SegmentationClass" / "demo_00003.png").unlink()
    problems = check_dataset(build_dataset(voc(demo_root, labels=str(labels)), "train"), progress=False)
    assert [str(p) for p in problems] == [
        f"{demo_root / 'SegmentationClass' / 'demo_00003.png'}: mask not found while other images "
        f"of this split have one; add it or remove 'demo_00003' from "
        f"{demo_root / 'ImageSets' / 'Segmentation' / 'train.txt'}"]


def test_strict_construction_raises_one_error_listing_the_problems(demo_root: Path):
    for id in ("demo_00003", "demo_00006"):
        (demo_root / "SegmentationClass" / f"{id}.png").unlink()
    with pytest.raises(DataFileError, match="2 problem") as err:
        build_dataset(voc(demo_root), "train")
    assert "demo_00003.png" in str(err.value) and "demo_00006.png" in str(err.value)
    assert "wsss check-data" in str(err.value)


def test_unknown_tags_of_a_folder_dataset_are_listed(tmp_path: Path):
    root = tmp_path / "mine"
    (root / "images").mkdir(parents=True)
    (root / "classes.txt").write_text("cat\ndog\n")
    (root / "labels.csv").write_text("id,tags\nx,cat\ny,cow\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images" / "x.png")
    ds = build_dataset(DataConfig(kind="folder", root=str(root)), "train", strict=False)
    problems = check_dataset(ds, progress=False)
    assert [p.path for p in problems] == [root / "labels.csv", root / "images" / "y.jpg"]
    assert "unknown class 'cow'" in problems[0].message


def test_problem_prints_path_then_message():
    assert str(Problem(Path("a/b.png"), "broken")) == "a/b.png: broken"


def test_empty_tags_of_an_image_whose_mask_holds_classes_are_reported(tmp_path: Path):
    root = tmp_path / "mine"
    (root / "images").mkdir(parents=True)
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    (root / "labels.csv").write_text("id,tags\nx,\ny,\n")
    mask = np.zeros((8, 8), np.uint8)
    mask[:4, :4], mask[4:, 4:] = 1, 2
    for id, values in (("x", mask), ("y", np.zeros((8, 8), np.uint8))):  # y: background only, fine
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images" / f"{id}.png")
        write_label_png(root / "masks" / f"{id}.png", values, [0] * 768)
    ds = build_dataset(DataConfig(kind="folder", root=str(root)), "train", strict=False)
    assert [str(p) for p in check_dataset(ds, progress=False)] == [
        f"{root / 'masks' / 'x.png'}: mask holds cat, dog but the image labels of 'x' hold no class; add "
        f"them to its tags (or fix the mask)"]
