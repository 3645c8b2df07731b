import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.data.classes import voc_palette
from wsss.data.sources import FloatMaps, LabelMaps, read_cams
from wsss.io import DataFileError, write_label_png


def test_label_maps_read_class_indices_and_pickle(tmp_path: Path):
    label = np.array([[0, 3], [255, 1]], np.uint8)
    write_label_png(tmp_path / "a.png", label, voc_palette())
    source = pickle.loads(pickle.dumps(LabelMaps(tmp_path)))
    assert source.kind == "label"
    out = source("a")
    assert out.dtype == np.uint8 and np.array_equal(out, label)


def test_float_maps_from_grey_png_are_one_channel_in_unit_range(tmp_path: Path):
    Image.fromarray(np.array([[0, 51], [255, 102]], np.uint8), mode="L").save(tmp_path / "a.png")
    source = FloatMaps(tmp_path)
    assert source.kind == "map"
    out = source("a")
    assert out.shape == (1, 2, 2) and out.dtype == np.float32
    assert out.ravel().tolist() == pytest.approx([0, 0.2, 1, 0.4])


def test_float_maps_from_cams_fill_the_key_channels_and_zero_the_rest(tmp_path: Path):
    cams = np.stack([np.full((3, 4), 0.5), np.full((3, 4), 0.25)]).astype(np.float16)
    np.savez(tmp_path / "a.npz", cams=cams, keys=np.array([3, 0]))
    out = pickle.loads(pickle.dumps(FloatMaps(tmp_path, ".npz", channels=5)))("a")
    assert out.shape == (5, 3, 4) and out.dtype == np.float32
    assert np.all(out[3] == 0.5) and np.all(out[0] == 0.25)
    assert not out[[1, 2, 4]].any()


@pytest.mark.parametrize("source, name", [(LabelMaps, "a.png"), (FloatMaps, "a.png"),
                                          (lambda folder: FloatMaps(folder, ".npz", 3), "a.npz")])
def test_missing_file_names_the_path(tmp_path: Path, source, name: str):
    with pytest.raises(DataFileError, match="file not found") as err:
        source(tmp_path)("a")
    assert str(tmp_path / name) in str(err.value)


def test_rgb_png_is_not_a_float_map(tmp_path: Path):
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(DataFileError, match="must be 8-bit greyscale PNGs") as err:
        FloatMaps(tmp_path)("a")
    assert str(tmp_path / "a.png") in str(err.value)


@pytest.mark.parametrize("arrays, match", [
    ({"cams": np.zeros((2, 3, 3))}, "cannot read CAM file"),
    ({"cams": np.zeros((2, 3, 3)), "keys": np.array([0])}, "do not match"),
    ({"cams": np.zeros((1, 3, 3)), "keys": np.array([4])}, "out of range 0..2"),
])
def test_bad_cam_files_name_the_path(tmp_path: Path, arrays: dict[str, np.ndarray], match: str):
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(DataFileError, match=match) as err:
        FloatMaps(tmp_path, ".npz", channels=3)("a")
    assert str(tmp_path / "a.npz") in str(err.value)


def test_read_cams_returns_float32_maps_and_int64_keys(tmp_path: Path):
    np.savez(tmp_path / "a.npz", cams=np.ones((1, 2, 2), np.float16), keys=np.array([2], np.int32))
    cams, keys = read_cams(tmp_path / "a.npz")
    assert cams.dtype == np.float32 and keys.dtype == np.int64 and keys.tolist() == [2]


def test_bad_suffix_and_missing_channels_are_value_errors(tmp_path: Path):
    with pytest.raises(ValueError, match=r"'.jpg'; choose one of \('.png', '.npz'\)"):
        FloatMaps(tmp_path, ".jpg")
    with pytest.raises(ValueError, match="need channels"):
        FloatMaps(tmp_path, ".npz")
