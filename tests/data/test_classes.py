from pathlib import Path

import numpy as np
import pytest

from wsss.data.classes import VOC_CLASSES, ClassSet, load_classes
from wsss.io import DataFileError


def test_voc_classes_map_fg_index_k_to_mask_value_k_plus_1():
    assert VOC_CLASSES.num_classes == 21 and VOC_CLASSES.num_foreground == 20
    assert VOC_CLASSES.foreground_names[0] == "aeroplane"
    assert VOC_CLASSES.index_of("person") == 14
    assert VOC_CLASSES.mask_value(14) == 15
    assert VOC_CLASSES.fg_index(15) == 14
    with pytest.raises(ValueError):
        VOC_CLASSES.fg_index(0)  # background has no foreground index


def test_index_of_unknown_name_lists_known_names():
    with pytest.raises(KeyError, match="known classes: aeroplane, bicycle"):
        VOC_CLASSES.index_of("dgo")


def test_classes_file_without_background_maps_fg_index_to_same_mask_value(tmp_path: Path):
    path = tmp_path / "classes.txt"
    path.write_text("building\ngrass\ntree\n\n")
    classes = load_classes(path)
    assert classes == ClassSet(("building", "grass", "tree"), has_background=False)
    assert classes.num_classes == classes.num_foreground == 3
    assert [classes.mask_value(k) for k in range(3)] == [0, 1, 2]
    assert classes.fg_index(2) == 2


def test_classes_file_with_background_first(tmp_path: Path):
    path = tmp_path / "classes.txt"
    path.write_text("background\ncat\ndog\n")
    classes = load_classes(path)
    assert classes.has_background and classes.foreground_names == ("cat", "dog")
    assert classes.mask_value(1) == 2


@pytest.mark.parametrize(
    "text, message",
    [("", "empty"), ("cat\ndog\ncat\n", "duplicate class names \\['cat'\\]"),
     ("cat\nbackground\n", "must be the first line")],
)
def test_bad_classes_file_names_the_file(tmp_path: Path, text: str, message: str):
    path = tmp_path / "classes.txt"
    path.write_text(text)
    with pytest.raises(DataFileError, match=message) as err:
        load_classes(path)
    assert str(path) in str(err.value)


def test_missing_classes_file_names_the_file(tmp_path: Path):
    with pytest.raises(DataFileError, match="classes.txt: classes file not found"):
        load_classes(tmp_path / "classes.txt")


def test_labels_from_mask_skip_background_void_and_unknown_values():
    mask = np.array([[0, 1, 255], [3, 3, 40]], np.uint8)
    assert VOC_CLASSES.labels_from_mask(mask).nonzero()[0].tolist() == [0, 2]
    no_bg = ClassSet(("a", "b", "c", "d"), has_background=False)
    assert no_bg.labels_from_mask(mask).tolist() == [1, 1, 0, 1]
    assert no_bg.labels_from_mask(mask).dtype == np.float32


def test_palette_is_the_voc_colour_map():
    palette = VOC_CLASSES.palette()
    assert len(palette) == 768
    assert palette[0:3] == [0, 0, 0]
    assert palette[3:6] == [128, 0, 0]  # aeroplane
    assert palette[15 * 3:16 * 3] == [192, 128, 128]  # person
    assert palette[255 * 3:] == [224, 224, 192]  # void
