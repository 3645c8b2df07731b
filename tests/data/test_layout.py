import shutil
from pathlib import Path

import pytest

from wsss.data import detect_layout
from wsss.data.demo import MANIFEST
from wsss.io import DataFileError


def test_demo_set_is_demo(demo_root: Path):
    assert detect_layout(demo_root) == "demo"


def test_voc_folder_without_manifest_is_voc(demo_root: Path, tmp_path: Path):
    root = Path(shutil.copytree(demo_root, tmp_path / "voc"))
    (root / MANIFEST).unlink()
    assert detect_layout(root) == "voc"


def test_images_and_labels_csv_is_folder(tmp_path: Path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels.csv").write_text("id,tags\n")
    assert detect_layout(tmp_path) == "folder"


def test_coco_instances_file_is_coco(tmp_path: Path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2014.json").write_text("{}")
    assert detect_layout(tmp_path) == "coco"


def test_images_without_labels_csv_names_every_layout(tmp_path: Path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataFileError) as err:
        detect_layout(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path}: not a dataset folder")
    assert "JPEGImages/ (VOC layout)" in message and "images/ + labels.csv (folder format)" in message
    assert "annotations/instances_<split>2014.json (COCO)" in message


def test_missing_folder_is_named(tmp_path: Path):
    with pytest.raises(DataFileError, match="no such folder") as err:
        detect_layout(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(err.value)
