import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from wsss.config import DataConfig, DemoConfig
from wsss.data import build_dataset, generate_demo
from wsss.data.demo import BODY_DIAMETER, PART_AREA, _class_plan, make_scene
from wsss.io import DataFileError

SMALL = DemoConfig(num_train=6, num_val=3, size=64, num_classes=4, seed=3)


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_writes_the_voc_layout_readable_as_a_demo_dataset(tmp_path: Path):
    root = generate_demo(tmp_path / "demo", SMALL)
    assert (root / "classes.txt").read_text().splitlines()[0] == "background"
    assert json.loads((root / "demo.json").read_text())["config"]["seed"] == 3
    train = build_dataset(DataConfig(kind="demo", root=str(root)), "train")
    val = build_dataset(DataConfig(kind="demo", root=str(root)), "val")
    assert len(train) == 6 and len(val) == 3 and not set(train.ids) & set(val.ids)
    assert train.classes.num_classes == 5 and train.classes.has_background
    sample = train[0]
    assert sample.image.shape == (64, 64, 3) and sample.mask.shape == (64, 64)
    assert 1 <= sample.labels.sum() <= 3


def test_generation_is_deterministic_for_a_seed(tmp_path: Path):
    first = files_of(generate_demo(tmp_path / "a", SMALL))
    assert first == files_of(generate_demo(tmp_path / "b", SMALL))
    other = files_of(generate_demo(tmp_path / "c", DemoConfig(**{**SMALL.__dict__, "seed": 4})))
    assert first["JPEGImages/demo_00000.jpg"] != other["JPEGImages/demo_00000.jpg"]


def test_skips_when_the_manifest_matches_and_regenerates_otherwise(tmp_path: Path):
    root = generate_demo(tmp_path / "demo", SMALL)
    stamp = (root / "JPEGImages" / "demo_00000.jpg").stat().st_mtime_ns
    generate_demo(root, SMALL)
    assert (root / "JPEGImages" / "demo_00000.jpg").stat().st_mtime_ns == stamp
    generate_demo(root, DemoConfig(**{**SMALL.__dict__, "num_train": 2}))
    assert (root / "ImageSets" / "Segmentation" / "train.txt").read_text().split() == [
        "demo_00000", "demo_00001"]
    assert not (root / "JPEGImages" / "demo_00008.jpg").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folders left


def test_refuses_to_overwrite_a_folder_that_is_not_a_demo_set(tmp_path: Path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "photo.jpg").write_bytes(b"precious")
    with pytest.raises(DataFileError, match="not a demo dataset"):
        generate_demo(tmp_path / "mine", SMALL)
    assert (tmp_path / "mine" / "photo.jpg").read_bytes() == b"precious"


def test_demo_kind_without_generated_data_says_how_to_make_it(tmp_path: Path):
    with pytest.raises(DataFileError, match="wsss demo-data"):
        build_dataset(DataConfig(kind="demo", root=str(tmp_path / "none")), "train")


@pytest.mark.parametrize("seed", range(8))
def test_parts_sit_inside_bodies_and_the_mask_covers_the_bodies(seed: int):
    scene = make_scene(np.random.default_rng(seed), 128, [0, 3, 4][: 1 + seed % 3])
    assert 1 <= len(scene.objects) <= 3
    assert len({obj.cls for obj in scene.objects}) == len(scene.objects)
    bodies = np.any([obj.body for obj in scene.objects], axis=0)
    assert np.array_equal(scene.mask > 0, bodies)
    for obj in scene.objects:
        assert not (obj.part & ~obj.body).any()
        assert np.all(scene.mask[obj.part] == obj.cls + 1)  # parts are never hidden
        assert PART_AREA[0] - 0.01 <= obj.part.sum() / obj.body.sum() <= PART_AREA[1] + 0.01
        low, high = BODY_DIAMETER[0] / 2 * 0.9, BODY_DIAMETER[1] * 1.1  # crowded bodies shrink up to 2x
        assert low * 128 <= np.sqrt(obj.body.sum() / np.pi) * 2 <= high * 128


def test_bodies_stand_out_from_the_background_but_not_by_class():
    saturation = {"bg": [], "body": []}
    for seed in range(10):
        scene = make_scene(np.random.default_rng(seed), 96, [0, 1])
        rgb = scene.image.astype(float)
        sat = rgb.max(-1) - rgb.min(-1)
        parts = np.any([obj.part for obj in scene.objects], axis=0)
        saturation["bg"].append(sat[scene.mask == 0].mean())
        saturation["body"].append(sat[(scene.mask > 0) & ~parts].mean())
    assert min(saturation["body"]) > max(saturation["bg"])


def test_class_plan_is_balanced_with_one_to_three_distinct_classes():
    plan = _class_plan(np.random.default_rng(0), 300, 5)
    assert all(1 <= len(c) <= 3 and len(set(c)) == len(c) for c in plan)
    counts = Counter(cls for classes in plan for cls in classes)
    assert max(counts.values()) - min(counts.values()) <= 2
    assert Counter(len(c) for c in plan).keys() == {1, 2, 3}


def test_the_imitated_detector_finds_most_objects_but_not_perfectly(tmp_path: Path):
    from PIL import Image

    from wsss.io import read_label_png

    root = generate_demo(tmp_path / "demo", DemoConfig(num_train=24, num_val=4, size=96))
    ious = []
    for mask_path in sorted((root / "SegmentationClass").glob("*.png")):
        with Image.open(root / "saliency" / mask_path.name) as img:
            assert img.mode == "L"
            salient = np.asarray(img) > 127
        mask = read_label_png(mask_path)
        assert salient.shape == mask.shape
        objects = (mask > 0) & (mask < 255)
        ious.append((salient & objects).sum() / max((salient | objects).sum(), 1))
    assert 0.6 < np.mean(ious) < 0.95  # a usable detector with a detector's errors
    assert min(ious) < 0.6  # some maps miss an object or add a false blob
