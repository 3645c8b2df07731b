from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.config import DataConfig
from wsss.data import build_dataset
from wsss.data.folder import FolderDataset
from wsss.io import DataFileError, write_label_png


def write_folder(root: Path, labels: str, classes: str = "cat\ndog\nbird\n") -> Path:
    """A folder-format set: images (jpg and png), labels.csv, classes.txt, masks for two ids."""
    (root / "images").mkdir(parents=True)
    (root / "classes.txt").write_text(classes)
    (root / "labels.csv").write_text(labels)
    for id, suffix in (("one", ".jpg"), ("two", ".png"), ("three", ".JPEG")):
        Image.fromarray(np.full((24, 32, 3), 120, np.uint8)).save(root / "images" / f"{id}{suffix}")
    for id, value in (("one", 0), ("two", 2)):
        write_label_png(root / "masks" / f"{id}.png", np.full((24, 32), value, np.uint8), [0] * 768)
    return root


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "mine", "id,tags\none,cat\ntwo,bird; dog\nthree,cat;cat\n")


def test_train_split_is_every_row_of_labels_csv(tiny_folder: Path):
    ds = FolderDataset(tiny_folder, "train")
    assert ds.ids == ["one", "two", "three"]
    assert ds.labels_of("one").tolist() == [1, 0, 0]
    assert ds.labels_of("two").tolist() == [0, 1, 1]
    assert ds.labels_of("three").tolist() == [1, 0, 0]
    assert ds.image_path("two").name == "two.png" and ds.image_path("three").name == "three.JPEG"


def test_samples_read_images_and_masks(tiny_folder: Path):
    ds = build_dataset(DataConfig(kind="folder", root=str(tiny_folder)), "train")
    assert ds.has_masks
    sample = ds[1]
    assert sample.image.shape == (24, 32, 3)
    assert sample.mask.shape == (24, 32) and sample.mask.max() == 2  # no background: value 2 = bird


def test_other_splits_need_a_split_file(tiny_folder: Path):
    with pytest.raises(DataFileError, match="split 'val' not found.*splits/<split>.txt"):
        FolderDataset(tiny_folder, "val")
    (tiny_folder / "splits").mkdir()
    (tiny_folder / "splits" / "val.txt").write_text("three\none\n")
    assert FolderDataset(tiny_folder, "val").ids == ["three", "one"]


def test_unknown_class_name_is_reported_with_the_file(tmp_path: Path):
    root = write_folder(tmp_path / "mine", "id,tags\none,cat\ntwo,dgo\nthree,cat;brid\n")
    with pytest.raises(DataFileError, match="2 problem") as err:
        FolderDataset(root, "train")
    assert f"{root / 'labels.csv'}: line 3: unknown class 'dgo'" in str(err.value)
    lenient = FolderDataset(root, "train", strict=False)
    assert [str(p).split(": ")[:2] for p in lenient.problems] == [
        [str(root / "labels.csv"), "line 3"], [str(root / "labels.csv"), "line 4"]]
    assert lenient.labels_of("three").tolist() == [1, 0, 0]


def test_empty_tags_need_a_background_class(tmp_path: Path):
    labels = "id,tags\none,\ntwo,dog\nthree,cat\n"
    no_bg = FolderDataset(write_folder(tmp_path / "a", labels), "train", strict=False)
    assert len(no_bg.problems) == 1 and "'one' has no tags" in no_bg.problems[0].message
    with_bg = FolderDataset(write_folder(tmp_path / "b", labels, "background\ncat\ndog\n"), "train")
    assert with_bg.labels_of("one").tolist() == [0, 0]
    assert with_bg.classes.mask_value(0) == 1


def test_duplicate_rows_and_split_ids_without_labels_are_problems(tmp_path: Path):
    root = write_folder(tmp_path / "mine", "id,tags\none,cat\none,dog\ntwo,dog\n")
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("two\nfour\n")
    ds = FolderDataset(root, "val", strict=False)
    messages = [p.message for p in ds.problems]
    assert messages[0] == "line 3: duplicate id 'one'; keep one line per image"
    assert messages[1].startswith("id 'four' has no row in")
    assert ds.ids == ["two", "four"] and ds.labels_of("four").sum() == 0


def test_bad_header_is_an_error(tmp_path: Path):
    root = write_folder(tmp_path / "mine", "image,labels\none,cat\n")
    with pytest.raises(DataFileError, match="header 'id,tags'"):
        FolderDataset(root, "train")


def test_classes_txt_is_required(tiny_folder: Path):
    (tiny_folder / "classes.txt").unlink()
    with pytest.raises(DataFileError, match="classes file not found"):
        FolderDataset(tiny_folder, "train")


def test_byte_order_mark_of_excel_csv_is_accepted(tmp_path: Path):
    root = write_folder(tmp_path / "mine", "id,tags\none,cat\n")
    (root / "labels.csv").write_bytes("\ufeffid,tags\none,cat\n".encode())
    ds = FolderDataset(root, "train")
    assert ds.ids == ["one"] and ds.classes.foreground_names[int(np.flatnonzero(ds.labels_of("one"))[0])] == "cat"


def test_empty_split_file_is_named(tiny_folder: Path):
    (tiny_folder / "splits").mkdir()
    split = tiny_folder / "splits" / "val.txt"
    split.write_text("\n")
    with pytest.raises(DataFileError, match="the split list is empty") as err:
        FolderDataset(tiny_folder, "val")
    assert str(err.value).startswith(str(split))


def test_labels_csv_without_rows_is_named(tmp_path: Path):
    root = write_folder(tmp_path / "mine", "id,tags\n")
    with pytest.raises(DataFileError, match="no image rows below the header") as err:
        FolderDataset(root, "train")
    assert str(root / "labels.csv") in str(err.value)
