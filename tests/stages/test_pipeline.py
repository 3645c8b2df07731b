"""The shared runner: reproducible runs, and stages that survive SIGKILL and resume exactly."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from wsss.cli import main

KILL_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture
def run_args(tmp_path, demo_root, fast_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return [*fast_run, f"data.root={demo_root}"]


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_two_runs_in_fresh_folders_give_identical_metrics_and_weights(run_args, assert_reproducible):
    assert_reproducible(run_args)


def test_a_stage_alone_starts_like_the_same_stage_inside_a_run(run_args, tmp_path):
    assert main(["train-aff", "--quiet", *run_args, "name=a"]) == 0
    assert main(["train-cls", "--quiet", *run_args, "name=b"]) == 0
    assert main(["cams", "--quiet", *run_args, "name=b"]) == 0
    assert main(["train-aff", "--quiet", *run_args, "name=b"]) == 0
    wa, wb = (_weights(tmp_path / "runs" / n / "checkpoints" / "aff.pt") for n in "ab")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _wsss(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "wsss", *args, "--quiet"], cwd=cwd, env=KILL_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(process, ready, timeout=120.0):
    """SIGKILL ``process`` as soon as ``ready()``; fails if it ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"finished before it could be killed: {process.stderr.read().decode()}"
        assert time.monotonic() < deadline, "nothing to kill at"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _finish(args, cwd):
    process = _wsss(args, cwd)
    assert process.wait() == 0, process.stderr.read().decode()


def _temporaries(folder):
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _log_rows(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _logged_steps(run):
    return [row["step"] for row in _log_rows(run)]


def _assert_same_folder(a, b):
    """Same file names (hidden ones included) with the same bytes."""
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_training_killed_after_a_checkpoint_resumes_to_the_uninterrupted_weights(run_args, tmp_path):
    args = [*run_args, "cls.train.epochs=10", "cls.train.checkpoint_every=3", "cls.train.log_every=1"]
    _finish(["train-cls", *args, "name=whole"], tmp_path)
    ckpt = tmp_path / "runs" / "cut" / "checkpoints"
    _kill_when(_wsss(["train-cls", *args, "name=cut"], tmp_path), lambda: (ckpt / "cls.last.pt").is_file())
    assert not (ckpt / "cls.pt").exists()
    _finish(["train-cls", "--resume", *args, "name=cut"], tmp_path)
    whole, resumed = _weights(tmp_path / "runs" / "whole" / "checkpoints" / "cls.pt"), _weights(ckpt / "cls.pt")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert not (ckpt / "cls.last.pt").exists() and not _temporaries(tmp_path / "runs")
    assert _logged_steps(tmp_path / "runs" / "cut") == list(range(1, 41))  # the steps redone are logged once


def test_cams_killed_midway_are_completed_equal_to_an_uninterrupted_run(run_args, tmp_path):
    args = [*run_args, "cam.scales=[1.0,1.5,2.0,2.5]"]
    _finish(["cams", *args, "name=whole"], tmp_path)
    (tmp_path / "runs" / "cut").mkdir(parents=True)
    cams = tmp_path / "runs" / "cut" / "cams" / "train"
    # the classifier is reused from the uninterrupted run, so only the CAM stage is cut
    (tmp_path / "runs" / "cut" / "checkpoints").symlink_to(tmp_path / "runs" / "whole" / "checkpoints")
    _kill_when(_wsss(["cams", *args, "name=cut"], tmp_path), lambda: len(list(cams.glob("*.npz"))) >= 2)
    assert not (cams / "manifest.json").exists()
    _finish(["cams", *args, "name=cut"], tmp_path)
    assert len(list(cams.glob("*.npz"))) == 16
    _assert_same_folder(tmp_path / "runs" / "whole" / "cams", cams.parent)
    assert not _temporaries(tmp_path / "runs")


@pytest.mark.parametrize("change, key", [("demo.num_train=12", "demo.num_train"), ("data.root=elsewhere", "data.root")])
def test_another_dataset_under_the_same_run_name_is_refused_naming_the_key(run_args, demo_root, tmp_path, capsys,
                                                                            change, key):
    assert main(["cams", "--quiet", *run_args, "name=t"]) == 0
    if key == "data.root":
        (tmp_path / "elsewhere").symlink_to(demo_root)
    capsys.readouterr()
    assert main(["cams", "--quiet", *run_args, "name=t", change]) == 1
    err = capsys.readouterr().err
    assert "another configuration" in err and key in err


def test_prediction_settings_and_split_names_reuse_the_trained_networks(run_args, tmp_path):
    """Only what changes a network retrains it: another prediction refinement or scale set, or
    another evaluation split, reuses every checkpoint and writes predictions of its own."""
    assert main(["run", "--quiet", *run_args, "name=t"]) == 0
    run = tmp_path / "runs" / "t"
    checkpoints = {path.name: path.read_bytes() for path in (run / "checkpoints").glob("*.pt")}
    assert main(["predict", "--quiet", *run_args, "name=t", "seg.refine=par", "seg.scales=[1.0,0.75]"]) == 0
    assert main(["train-cls", "--quiet", *run_args, "name=t", "data.val_split=train"]) == 0
    assert {path.name: path.read_bytes() for path in (run / "checkpoints").glob("*.pt")} == checkpoints
    refined, plain = run / "preds" / "val-ms-par", run / "preds" / "val-ms"
    assert len(list(refined.glob("*.png"))) == len(list(plain.glob("*.png")))
    assert json.loads((refined / ".config.json").read_text())["crf"] == "deeplab"


def test_the_same_dataset_by_a_relative_or_an_absolute_root_reuses_the_outputs(run_args, demo_root, tmp_path,
                                                                                monkeypatch):
    assert main(["cams", "--quiet", *run_args, "name=t"]) == 0
    cams = tmp_path / "runs" / "t" / "cams" / "train"
    written = {path.name: path.stat().st_mtime_ns for path in cams.glob("*.npz")}
    monkeypatch.chdir(demo_root.parent)
    relative = [arg for arg in run_args if not arg.startswith("data.root=")]
    assert main(["cams", "--quiet", *relative, f"data.root={demo_root.name}", f"out_dir={tmp_path / 'runs'}",
                 "name=t"]) == 0
    assert {path.name: path.stat().st_mtime_ns for path in cams.glob("*.npz")} == written


def test_a_changed_file_of_a_real_dataset_is_detected(run_args, demo_root, tmp_path, capsys):
    import shutil
    root = tmp_path / "voc"
    shutil.copytree(demo_root, root)
    (root / "demo.json").unlink()
    voc = [*run_args, "data.kind=voc", f"data.root={root}", "name=t"]
    assert main(["train-cls", "--quiet", *voc]) == 0
    victim = next((root / "JPEGImages").glob("*.jpg"))
    victim.write_bytes(victim.read_bytes() + b"\0" * 10)
    capsys.readouterr()
    assert main(["train-cls", "--quiet", *voc]) == 1
    assert "dataset.files_sha1" in capsys.readouterr().err


def test_torchrun_with_two_processes_runs_the_whole_pipeline(run_args, tmp_path):
    """The README's torchrun line on the CPU (gloo): every rank trains, the per-image stages are
    sharded, and the folders are complete (each rank lists the missing ids before any writes)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "wsss", "run", "--quiet", *run_args, "name=ddp"]
    done = subprocess.run(command, cwd=tmp_path, env=KILL_ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| **mIoU** |" in done.stdout
    run = tmp_path / "runs" / "ddp"
    for folder, count in [("cams/train", 16), ("seeds/train", 16), ("pseudo/train", 16), ("preds/val-ss", 6),
                          ("preds/val-ms", 6)]:
        files = list((run / folder).glob("*.npz" if folder.startswith("cams") else "*.png"))
        assert len(files) == count and (run / folder / "manifest.json").is_file(), folder
    assert json.loads((run / "metrics.json").read_text())["seg/val-ss"]["as_error"]["miou"] >= 0


def test_two_processes_train_and_write_cams_like_one_process_with_the_same_global_batch(run_args, tmp_path):
    """torchrun splits each global batch over the ranks: the weights match one process's; the CAMs
    of two processes and of one, from the same classifier, are the same files. BatchNorm is frozen
    (SyncBatchNorm needs CUDA) and dropout off (each rank draws its own masks)."""
    args = [*run_args, "cls.freeze_bn=true", "cls.dropout=0", "cls.train.epochs=1"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "wsss", "cams", "--quiet", *args, "name=ddp"]
    done = subprocess.run(command, cwd=tmp_path, env=KILL_ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train-cls", "--quiet", *args, "name=one"]) == 0
    runs = tmp_path / "runs"
    two, one = _weights(runs / "ddp" / "checkpoints" / "cls.pt"), _weights(runs / "one" / "checkpoints" / "cls.pt")
    assert max((two[k].float() - one[k].float()).abs().max().item() for k in two) <= 1e-5
    assert _logged_steps(runs / "ddp") == _logged_steps(runs / "one") == [4]  # 16 images, global batch 4
    (two_row,), (one_row,) = (_log_rows(runs / name) for name in ("ddp", "one"))
    assert abs(two_row["loss"] - one_row["loss"]) <= 1e-5  # the loss logged is the global batch's, all-reduced
    (runs / "one-cams").mkdir()
    (runs / "one-cams" / "checkpoints").symlink_to(runs / "ddp" / "checkpoints")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process: the sums of a convolution depend on the threads
    try:
        assert main(["cams", "--quiet", *args, "name=one-cams"]) == 0
    finally:
        torch.set_num_threads(threads)
    _assert_same_folder(runs / "ddp" / "cams", runs / "one-cams" / "cams")


def test_a_run_removes_the_temporary_files_a_kill_left_in_any_of_its_folders(run_args, tmp_path):
    nested = tmp_path / "runs" / "t" / "saliency" / "train-round1"  # a folder beside a stage's own
    nested.mkdir(parents=True)
    (nested / ".demo_00000.png.x1y2.tmp").write_bytes(b"cut")
    assert main(["train-cls", "--quiet", *run_args, "name=t"]) == 0
    assert not _temporaries(tmp_path / "runs")
