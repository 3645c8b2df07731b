import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.cli import main
from wsss.config import ConfigError, DataConfig, load_config
from wsss.data import ClassSet, build_dataset, detect_layout
from wsss.data.coco import CocoDataset
from wsss.io import DataFileError
from wsss.methods import all_methods, get_method

needs_pycocotools = pytest.mark.skipif(importlib.util.find_spec("pycocotools") is None,
                                       reason="pycocotools (the coco extra) is not installed")
H, W = 8, 10  # every test image is 10 wide, 8 high
# Non-contiguous category ids, listed out of order: airplane (id 5) -> mask value 1, dog (id 18) -> 2.
CATEGORIES = [{"id": 18, "name": "dog", "supercategory": "animal"},
              {"id": 5, "name": "airplane", "supercategory": "vehicle"}]


def box(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """(H, W) bool: columns x0..x1-1, rows y0..y1-1."""
    region = np.zeros((H, W), bool)
    region[y0:y1, x0:x1] = True
    return region


def polygon(x0: int, y0: int, x1: int, y1: int) -> list[list[int]]:
    """The rectangle of ``box`` as a COCO polygon (pycocotools fills it exactly so)."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def rle(region: np.ndarray) -> dict:
    """Uncompressed COCO RLE: run lengths of the column-major pixels, starting with a 0 run."""
    counts, value, run = [], False, 0
    for pixel in region.ravel(order="F"):
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    return {"size": [H, W], "counts": [*counts, run]}


def annotation(id: int, image_id: int, category_id: int, segmentation, crowd: int = 0) -> dict:
    return {"id": id, "image_id": image_id, "category_id": category_id, "segmentation": segmentation,
            "iscrowd": crowd, "area": 1.0, "bbox": [0, 0, 1, 1]}


def write_coco(root: Path) -> Path:
    """train2014: image 1 (dog polygon, airplane RLE over it, dog crowd RLE over both), image 2 (no
    annotation), image 3 (only a crowd region), image 4 (airplane polygon of two parts); val2014: image 7."""
    train = {1: "COCO_train2014_000000000001.jpg", 2: "COCO_train2014_000000000002.jpg",
             3: "COCO_train2014_000000000003.jpg", 4: "COCO_train2014_000000000004.jpg"}
    annotations = [
        annotation(10, 1, 18, polygon(0, 0, 6, 4)),
        annotation(11, 1, 5, rle(box(4, 2, 9, 7))),
        annotation(12, 1, 18, rle(box(0, 6, 3, 8)), crowd=1),
        annotation(13, 3, 5, rle(box(0, 0, 2, 2)), crowd=1),
        annotation(14, 4, 5, polygon(1, 1, 3, 8) + polygon(6, 0, 8, 2)),  # two parts
    ]
    write_split(root, "train", train, annotations)
    write_split(root, "val", {7: "COCO_val2014_000000000007.jpg"}, [annotation(20, 7, 18, polygon(5, 0, 10, 8))])
    return root


def write_split(root: Path, split: str, files: dict[int, str], annotations: list[dict]) -> None:
    (root / f"{split}2014").mkdir(parents=True)
    (root / "annotations").mkdir(exist_ok=True)
    for name in files.values():
        Image.fromarray(np.full((H, W, 3), 120, np.uint8)).save(root / f"{split}2014" / name)
    images = [{"id": id, "file_name": name, "height": H, "width": W} for id, name in files.items()]
    instances = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    (root / "annotations" / f"instances_{split}2014.json").write_text(json.dumps(instances))


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    return write_coco(tmp_path / "coco")


@needs_pycocotools
def test_classes_are_background_then_the_categories_in_id_order(coco_root: Path):
    ds = CocoDataset(coco_root, "train")
    assert ds.classes.names == ("background", "airplane", "dog") and ds.classes.has_background
    assert ds.classes.num_classes == 3 and len(ds.classes.palette()) == 768


@needs_pycocotools
def test_images_without_tags_are_left_out_and_tags_skip_crowds(coco_root: Path):
    ds = CocoDataset(coco_root, "train")
    assert ds.ids == ["COCO_train2014_000000000001", "COCO_train2014_000000000004"]  # 2: none, 3: crowd only
    assert ds.labels_of("COCO_train2014_000000000001").tolist() == [1.0, 1.0]
    assert ds.labels_of("COCO_train2014_000000000004").tolist() == [1.0, 0.0]
    assert ds.image_path(ds.ids[0]) == coco_root / "train2014" / "COCO_train2014_000000000001.jpg"
    assert ds.has_masks and ds.source == coco_root / "annotations" / "instances_train2014.json"


@needs_pycocotools
def test_masks_are_rendered_later_over_earlier_and_crowds_over_all(coco_root: Path):
    ds = CocoDataset(coco_root, "train")
    expected = np.zeros((H, W), np.uint8)
    expected[box(0, 0, 6, 4)] = 2  # dog polygon
    expected[box(4, 2, 9, 7)] = 1  # airplane RLE, after the dog: over it
    expected[box(0, 6, 3, 8)] = 255  # dog crowd region
    np.testing.assert_array_equal(ds.read_mask("COCO_train2014_000000000001"), expected)
    np.testing.assert_array_equal(ds[1].mask, (box(1, 1, 3, 8) | box(6, 0, 8, 2)).astype(np.uint8))
    assert ds[1].image.shape == (H, W, 3) and ds[1].id == "COCO_train2014_000000000004"


@needs_pycocotools
def test_val_split_and_the_config_builder(coco_root: Path):
    ds = build_dataset(DataConfig(kind="coco", root=str(coco_root)), "val")
    assert ds.ids == ["COCO_val2014_000000000007"]
    np.testing.assert_array_equal(ds.read_mask(ds.ids[0]), box(5, 0, 10, 8) * np.uint8(2))
    with pytest.raises(DataFileError, match=r"split 'test' not found.*found splits: train, val"):
        CocoDataset(coco_root, "test")
    with pytest.raises(ConfigError, match="data.classes: not used by data.kind=coco"):
        build_dataset(DataConfig(kind="coco", root=str(coco_root), classes="classes.txt"), "val")


@needs_pycocotools
def test_check_data_passes_on_the_folder_and_names_a_missing_image(coco_root: Path, capsys):
    assert detect_layout(coco_root) == "coco"
    assert main(["check-data", "--quiet", str(coco_root)]) == 0
    out = capsys.readouterr().out
    assert "'train': 2 images, 2 classes, masks: yes; no problems found" in out
    assert "airplane: 2 images" in out and "dog: 1 images" in out
    assert main(["check-data", "--quiet", "--split", "val", "data.kind=coco", f"data.root={coco_root}"]) == 0
    missing = coco_root / "train2014" / "COCO_train2014_000000000004.jpg"
    missing.unlink()
    assert main(["check-data", "--quiet", str(coco_root)]) == 1
    assert f"{missing}: image not found" in capsys.readouterr().err


@needs_pycocotools
def test_unknown_category_and_broken_file_are_named(coco_root: Path):
    path = coco_root / "annotations" / "instances_val2014.json"
    instances = json.loads(path.read_text())
    instances["annotations"][0]["category_id"] = 99
    path.write_text(json.dumps(instances))
    with pytest.raises(DataFileError, match=r"category ids \[99\] are not among the categories"):
        CocoDataset(coco_root, "val")
    path.write_text("{")
    with pytest.raises(DataFileError, match="instances_val2014.json: cannot parse"):
        CocoDataset(coco_root, "val")


def test_missing_pycocotools_names_the_extra(coco_root: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r'pip install "wsss\[coco\]"'):
        CocoDataset(coco_root, "train")


def test_every_method_has_a_valid_coco_config(repo_root: Path):
    coco_classes = ("background", *(f"category{i}" for i in range(80)))
    files = sorted((repo_root / "configs").glob("*_coco.yaml"))
    assert sorted(load_config(path).method for path in files) == sorted(m.name for m in all_methods())
    for path in files:
        cfg = load_config(path)
        assert (cfg.data.kind, cfg.data.train_split, cfg.data.val_split) == ("coco", "train", "val"), path
        check = get_method(cfg.method).check
        if check is not None:
            check(cfg, ClassSet(coco_classes, has_background=True))


@needs_pycocotools
def test_psa_runs_every_stage_on_coco(coco_root: Path, fast_run: list[str], tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--quiet", *fast_run, "data.kind=coco", f"data.root={coco_root}", "name=c"]) == 0
    out = capsys.readouterr().out
    assert "| airplane |" in out and "seg val-ms" in out
