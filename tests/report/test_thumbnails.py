"""Gallery pictures: sizes, palette label maps, heat map colours."""
import numpy as np
from PIL import Image

from wsss.data.classes import voc_palette
from wsss.report.thumbnails import heat_colours, save_heat_map, save_label, save_photo, thumbnail_size


def test_thumbnail_size_keeps_the_aspect_ratio_and_never_enlarges():
    assert thumbnail_size(64, 128, 32) == (32, 16)
    assert thumbnail_size(20, 10, 128) == (10, 20)


def test_heat_colours_run_from_dark_blue_to_dark_red():
    colours = heat_colours(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]))
    np.testing.assert_allclose(colours[[0, 1]], [[0, 0, 127.5]] * 2)
    np.testing.assert_allclose(colours[[3, 4]], [[127.5, 0, 0]] * 2)
    assert colours[2, 1] > 200  # the middle is green-yellow


def test_label_thumbnails_keep_class_values_in_the_palette(tmp_path):
    label = np.zeros((8, 8), np.uint8)
    label[:, 4:] = 255
    label[0, 0] = 3
    save_label(tmp_path / "l.png", label, 4, voc_palette())
    with Image.open(tmp_path / "l.png") as img:
        assert img.mode == "P" and img.size == (4, 4)
        assert set(np.unique(np.asarray(img))) <= {0, 3, 255}
        assert np.asarray(img)[:, 2:].tolist() == [[255, 255]] * 4


def test_a_heat_map_lies_over_the_photo_at_its_size(tmp_path):
    photo = save_photo(tmp_path / "p.jpg", np.full((40, 20, 3), 128, np.uint8), 20)
    assert photo.shape == (20, 10, 3)
    cam = np.zeros((40, 20), np.float32)
    cam[:20] = 1.0
    save_heat_map(tmp_path / "h.jpg", cam, photo)
    with Image.open(tmp_path / "h.jpg") as img:
        heat = np.asarray(img.convert("RGB")).astype(int)
    assert heat.shape == (20, 10, 3)
    assert heat[2, 5, 0] > heat[2, 5, 2] and heat[-2, 5, 2] > heat[-2, 5, 0]  # hot (red) on top, cold (blue) below
