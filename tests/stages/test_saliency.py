"""The shared saliency stage, and PSA's seeds gated by it."""
import numpy as np
import pytest
from PIL import Image

from wsss.cli import main
from wsss.io import read_label_png

SALIENT = 0.5


@pytest.fixture
def run_args(tmp_path, demo_root, fast_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return [*fast_run, f"data.root={demo_root}"]


@pytest.fixture
def object_maps(tmp_path, demo_root):
    """A user's saliency folder: 255 on the objects of the ground truth, 0 elsewhere."""
    folder = tmp_path / "maps"
    folder.mkdir()
    for mask in (demo_root / "SegmentationClass").glob("*.png"):
        objects = read_label_png(mask)
        salient = np.where((objects > 0) & (objects < 255), 255, 0).astype(np.uint8)
        Image.fromarray(salient, "L").save(folder / mask.name)
    return folder


def test_maps_from_a_user_folder_are_copied_and_gate_the_seeds(run_args, object_maps, tmp_path):
    args = [*run_args, "name=t", f"saliency.source={object_maps}", "seeds.saliency=true"]
    assert main(["seeds", "--quiet", *args]) == 0
    run = tmp_path / "runs" / "t"
    ids = [p.stem for p in (run / "seeds" / "train").glob("*.png")]
    assert ids and (run / "saliency" / "train" / "manifest.json").is_file()
    for image_id in ids:
        copied = np.asarray(Image.open(run / "saliency" / "train" / f"{image_id}.png"))
        assert np.array_equal(copied, np.asarray(Image.open(object_maps / f"{image_id}.png")))
        seed = read_label_png(run / "seeds" / "train" / f"{image_id}.png")
        salient = copied > 255 * SALIENT
        assert not ((seed > 0) & (seed < 255) & ~salient).any()  # no object seed off the salient region
        assert not ((seed == 0) & salient).any()  # no background seed on it


def test_a_run_without_the_gate_computes_no_saliency(run_args, tmp_path):
    assert main(["seeds", "--quiet", *run_args, "name=t"]) == 0
    assert not (tmp_path / "runs" / "t" / "saliency").exists()


def test_a_map_of_the_wrong_size_is_named_with_the_fix(run_args, object_maps, capsys):
    victim = sorted(object_maps.glob("*.png"))[0]
    Image.open(victim).resize((10, 10)).save(victim)
    assert main(["saliency", "--quiet", *run_args, "name=t", f"saliency.source={object_maps}"]) == 1
    err = capsys.readouterr().err
    assert victim.name in err and "resize the map to the image" in err


def test_the_gate_is_refused_where_it_cannot_apply(run_args, capsys):
    assert main(["seeds", "--quiet", *run_args, "name=t", "seeds.saliency=true",
                 "seeds.labels_at_stride=pooled"]) == 1
    assert "seeds.labels_at_stride=nearest" in capsys.readouterr().err


def test_a_folder_missing_a_map_names_the_file(run_args, object_maps, capsys):
    victim = sorted(object_maps.glob("*.png"))[0]
    victim.unlink()
    assert main(["saliency", "--quiet", *run_args, "name=t", f"saliency.source={object_maps}"]) == 1
    err = capsys.readouterr().err
    assert victim.name in err and "not found" in err


def test_a_source_folder_that_does_not_exist_is_a_config_error(run_args, tmp_path, capsys):
    assert main(["saliency", "--quiet", *run_args, "name=t", f"saliency.source={tmp_path / 'nowhere'}"]) == 1
    assert "saliency.source" in capsys.readouterr().err
