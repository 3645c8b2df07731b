"""The ``wsss`` command as a user runs it: whole pipeline, resume/skip, bad data refused."""
import json
import os
import shutil
import socket

import numpy as np
import pytest
from PIL import Image
from wsss.cli import main
from wsss.io import write_label_png
from wsss.stages.pipeline import Pipeline


@pytest.fixture
def run_args(tmp_path, demo_root, fast_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return [*fast_run, f"data.root={demo_root}", "name=t"]


STAGES = ["train-cls", "cams", "seeds", "train-aff", "pseudo", "train-seg", "predict"]


def test_run_prints_the_whole_psa_table_and_writes_the_run_folder(run_args, tmp_path, capsys):
    assert main(["run", "--quiet", *run_args]) == 0
    out = capsys.readouterr().out
    header = out[out.index("| class"):].splitlines()[0]
    for column in ("CAM train (bg 0.25)", "seeds train", "pseudo (RW) train", "seg val-ss", "seg val-ms"):
        assert column in header
    assert "| **mIoU** |" in out and "| background |" in out
    run = tmp_path / "runs" / "t"
    metrics = json.loads((run / "metrics.json").read_text())
    cam = metrics["cam/train"]
    assert 0.0 <= cam["fixed"]["miou"] <= 1.0
    assert cam["best"]["miou"] >= max(s["miou"] for s in cam["sweep"]) - 1e-12
    assert 0.0 <= metrics["pseudo/train"]["as_error"]["miou"] <= 1.0
    assert set(metrics["timings_s"]) == set(STAGES)
    for name in ("cls", "aff", "seg"):
        assert (run / "checkpoints" / f"{name}.pt").is_file()
    assert (run / "config.yaml").is_file()
    for folder, suffix, count in [("cams/train", "npz", 16), ("seeds/train", "png", 16), ("pseudo/train", "png", 16),
                                  ("preds/val-ss", "png", 6), ("preds/val-ms", "png", 6)]:
        assert len(list((run / folder).glob(f"*.{suffix}"))) == count, folder
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in logged} == {"train-cls", "train-aff", "train-seg"}


def test_second_run_skips_finished_stages(run_args, tmp_path, capsys):
    assert main(["run", "--quiet", *run_args]) == 0
    ckpt = tmp_path / "runs" / "t" / "checkpoints" / "cls.pt"
    stamp = ckpt.stat().st_mtime_ns
    first = capsys.readouterr().out.split("| class")[1]
    assert main(["run", "--quiet", *run_args]) == 0
    assert ckpt.stat().st_mtime_ns == stamp
    assert capsys.readouterr().out.split("| class")[1] == first


def test_interrupted_cam_folder_is_completed(run_args, tmp_path):
    assert main(["run", "--quiet", *run_args]) == 0
    cams = tmp_path / "runs" / "t" / "cams" / "train"
    victims = sorted(cams.glob("*.npz"))[:3]
    for path in victims:
        path.unlink()
    (cams / "manifest.json").unlink()
    assert main(["cams", "--quiet", *run_args]) == 0
    assert all(path.is_file() for path in victims) and (cams / "manifest.json").is_file()


def test_changed_config_is_refused_not_mixed(run_args, capsys):
    assert main(["train-cls", "--quiet", *run_args]) == 0
    assert main(["train-cls", "--quiet", *run_args, "cls.train.lr=0.5"]) == 1
    err = capsys.readouterr().err
    assert "another configuration" in err and "cls.train.lr" in err


def test_eval_scores_a_label_folder_three_ways(run_args, tmp_path, demo_root, capsys):
    labels = tmp_path / "gt_copy"
    shutil.copytree(demo_root / "SegmentationClass", labels)
    assert main(["eval", "--quiet", *run_args, "--split", "val", "--path", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "gt_copy (as_error)" in out and "| **mIoU** | **100.0** | **100.0** | **100.0** |" in out


def test_demo_data_command_writes_voc_layout(tmp_path):
    assert main(["demo-data", str(tmp_path / "d"), "demo.num_train=4", "demo.num_val=2", "demo.size=48"]) == 0
    assert len((tmp_path / "d" / "ImageSets" / "Segmentation" / "train.txt").read_text().split()) == 4
    assert len(list((tmp_path / "d" / "JPEGImages").glob("*.jpg"))) == 6


def test_unknown_override_is_a_clear_error(capsys):
    assert main(["check-data", "data.rooot=x"]) == 1
    assert "unknown config key 'data.rooot'" in capsys.readouterr().err


@pytest.fixture
def broken_voc(demo_root, tmp_path):
    """A copy of the demo set with one truncated JPEG and one missing mask."""
    root = tmp_path / "broken"
    shutil.copytree(demo_root, root)
    ids = (root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    jpeg = root / "JPEGImages" / f"{ids[0]}.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])
    mask = root / "SegmentationClass" / f"{ids[1]}.png"
    mask.unlink()
    (root / "demo.json").unlink()  # now a plain VOC folder, not the generated set
    return root, jpeg, mask


def test_check_data_names_every_broken_file(broken_voc, capsys):
    root, jpeg, mask = broken_voc
    assert main(["check-data", "--quiet", "data.kind=voc", f"data.root={root}"]) == 1
    err = capsys.readouterr().err
    assert str(jpeg) in err and str(mask) in err and "2 problem(s)" in err


def test_train_cls_refuses_broken_data_with_the_same_message(broken_voc, run_args, tmp_path, capsys):
    root, jpeg, mask = broken_voc
    assert main(["check-data", "--quiet", "data.kind=voc", f"data.root={root}"]) == 1
    expected = capsys.readouterr().err
    assert main(["train-cls", "--quiet", *run_args, "data.kind=voc", f"data.root={root}"]) == 1
    assert capsys.readouterr().err == expected
    assert not (tmp_path / "runs" / "t" / "checkpoints").exists()


def test_check_data_takes_the_dataset_folder_and_detects_its_layout(broken_voc, demo_root, capsys):
    assert main(["check-data", "--quiet", str(demo_root)]) == 0
    assert "no problems found" in capsys.readouterr().out
    root, jpeg, mask = broken_voc  # a VOC folder (no demo manifest), given as the argument
    assert main(["check-data", "--quiet", str(root), "data.labels=masks"]) == 1
    err = capsys.readouterr().err
    assert str(jpeg) in err and str(mask) in err
    assert main(["check-data", "--quiet", str(root / "JPEGImages")]) == 1
    assert "not a dataset folder" in capsys.readouterr().err


def test_eval_keeps_the_scores_of_each_folder_of_a_split_apart(run_args, tmp_path):
    assert main(["seeds", "--quiet", *run_args]) == 0
    run = tmp_path / "runs" / "t"
    for folder in ("cams/train", "seeds/train"):
        assert main(["eval", "--quiet", *run_args, "--path", str(run / folder)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert "fixed" in metrics["eval/cams/train/train"] and "confident" in metrics["eval/seeds/train/train"]


def test_predict_on_the_training_split_for_a_train_score_beside_the_pseudo_labels(run_args, tmp_path):
    assert main(["predict", "--quiet", "--split", "train", *run_args]) == 0
    run = tmp_path / "runs" / "t"
    assert len(list((run / "preds" / "train-ss").glob("*.png"))) == 16
    assert len(list((run / "preds" / "train-ms").glob("*.png"))) == 16
    assert not (run / "preds" / "val-ss").exists()  # only the split asked for
    assert main(["eval", "--quiet", *run_args, "--path", str(run / "preds" / "train-ss")]) == 0


def test_unusable_run_folder_is_named_before_any_work(run_args, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out_dir, run in (("/proc/x", "/proc/x/t"), (str(blocker), f"{blocker}/t")):
        assert main(["train-cls", "--quiet", *run_args, f"out_dir={out_dir}"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot write to the run folder {run}: ") and "set out_dir" in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_ctrl_c_names_the_checkpoint_to_resume_from_and_exits_130(run_args, tmp_path, capsys, monkeypatch):
    def interrupted(pipeline, stage, split=None):
        raise KeyboardInterrupt

    def interrupted_after_a_checkpoint(pipeline, stage, split=None):
        last = pipeline.paths.checkpoint("cls").with_suffix(".last.pt")
        last.parent.mkdir(parents=True, exist_ok=True)
        last.write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(Pipeline, "run_stage", interrupted)
    assert main(["train-cls", "--quiet", *run_args]) == 130
    assert capsys.readouterr().err == (
        "interrupted; run the same command again: finished stages and written per-image outputs are kept\n")
    monkeypatch.setattr(Pipeline, "run_stage", interrupted_after_a_checkpoint)
    assert main(["train-cls", "--quiet", *run_args]) == 130
    assert capsys.readouterr().err == "interrupted; `--resume` goes on from runs/t/checkpoints/cls.last.pt\n"
    assert not (tmp_path / "runs" / "t" / "run.lock").exists()


def test_cams_with_other_classifier_settings_is_refused_and_config_yaml_kept(run_args, tmp_path, capsys):
    assert main(["train-cls", "--quiet", *run_args]) == 0
    config = tmp_path / "runs" / "t" / "config.yaml"
    saved = config.read_text()
    capsys.readouterr()
    for command in ("cams", "train-cls"):
        assert main([command, "--quiet", *run_args, "cls.dropout=0.3", "cls.train.lr=0.5"]) == 1
        err = capsys.readouterr().err
        assert "cls.pt was made with another configuration (differs in: cls.dropout, cls.train.lr)" in err
        assert config.read_text() == saved


def test_a_run_folder_in_use_is_refused_naming_the_other_process(run_args, tmp_path, capsys):
    lock = tmp_path / "runs" / "t" / "run.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "command": "wsss run",
                                "started": "2026-01-02 03:04:05 +0000"}))
    assert main(["train-cls", "--quiet", *run_args]) == 1
    err = capsys.readouterr().err
    assert f"is in use by pid {os.getppid()} on {socket.gethostname()} (`wsss run`" in err
    assert not (tmp_path / "runs" / "t" / "checkpoints").exists()


def test_skip_bad_leaves_out_broken_images_lists_and_counts_them(broken_voc, run_args, tmp_path):
    root, jpeg, mask = broken_voc
    args = [*run_args, "data.kind=voc", f"data.root={root}"]
    assert main(["cams", "--quiet", *args]) == 1
    assert main(["cams", "--quiet", "--skip-bad", *args]) == 0
    run = tmp_path / "runs" / "t"
    listed = dict(line.split("\t") for line in (run / "skipped-train.txt").read_text().splitlines())
    assert set(listed) == {jpeg.stem, mask.stem}
    assert listed[jpeg.stem].startswith(f"{jpeg}: cannot decode image") and listed[mask.stem].startswith(str(mask))
    assert json.loads((run / "metrics.json").read_text())["skipped/train"] == {"count": 2, "list": "skipped-train.txt"}
    written = {path.stem for path in (run / "cams" / "train").glob("*.npz")}
    assert len(written) == 14 and not written & set(listed)


def write_tiny_folder(root):
    """A folder-format set of two 8x8 images with masks; each case below breaks one thing."""
    (root / "images").mkdir(parents=True)
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    (root / "labels.csv").write_text("id,tags\nx,cat\ny,dog\n")
    for id, value in (("x", 1), ("y", 2)):
        Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(root / "images" / f"{id}.png")
        write_label_png(root / "masks" / f"{id}.png", np.full((8, 8), value, np.uint8), [0] * 768)
    return root


def _truncate(root):
    image = root / "images" / "x.png"
    image.write_bytes(image.read_bytes()[:40])
    return image, "cannot decode image"


def _resize_mask(root):
    write_label_png(root / "masks" / "x.png", np.ones((6, 8), np.uint8), [0] * 768)
    return root / "masks" / "x.png", "mask is 8x6 (width x height) but image x.png is 8x8"


def _out_of_range(root):
    write_label_png(root / "masks" / "x.png", np.full((8, 8), 7, np.uint8), [0] * 768)
    return root / "masks" / "x.png", "mask values [7] out of range"


def _unknown_class(root):
    (root / "labels.csv").write_text("id,tags\nx,cat\ny,dog;cow\n")
    return root / "labels.csv", "line 3: unknown class 'cow'"


def _duplicate_id(root):
    (root / "labels.csv").write_text("id,tags\nx,cat\ny,dog\nx,dog\n")
    return root / "labels.csv", "line 4: duplicate id 'x'"


@pytest.mark.parametrize("breaks", [_truncate, _resize_mask, _out_of_range, _unknown_class, _duplicate_id])
def test_each_broken_file_is_one_named_error_without_a_traceback(breaks, tmp_path, capsys):
    root = write_tiny_folder(tmp_path / "mine")
    assert main(["check-data", "--quiet", str(root)]) == 0
    path, message = breaks(root)
    assert main(["check-data", "--quiet", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 problem(s) in the dataset at") and f"{path}: {message}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("override, message", [
    ("cls.train.epochs=two", "error: 'cls.train.epochs' must be int, got 'two'\n"),
    ("cls.train.lrr=0.1", "error: unknown config key 'cls.train.lrr'; known keys here: "),
])
def test_bad_config_values_are_one_named_error(override, message, tmp_path, capsys):
    root = write_tiny_folder(tmp_path / "mine")
    assert main(["train-cls", "--quiet", "data.kind=folder", f"data.root={root}", override]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_missing_weights_file_is_one_named_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = write_tiny_folder(tmp_path / "mine")
    missing = tmp_path / "nowhere.pth"
    assert main(["train-cls", "--quiet", "data.kind=folder", f"data.root={root}", "model.backbone=tiny",
                 "workers=0", f"model.weights={missing}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: weight file not found: {missing}; ") and "model.pretrained=false" in err
    assert err.count("\n") == 1


def test_a_command_leaves_the_process_group_it_ran_in(tmp_path, capsys):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    assert main(["methods"]) == 0
    assert not dist.is_initialized()  # gloo's threads are stopped before the interpreter exits
