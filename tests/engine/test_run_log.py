"""log.jsonl rows, and the same numbers in TensorBoard event files when tensorboard is installed."""
import json
import sys

import pytest

from wsss.engine.run_log import RunLog


def test_without_tensorboard_the_json_lines_are_written_alone(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    log = RunLog(tmp_path / "log.jsonl")
    log.write("train-x", step=1, total=2, lr=0.1, loss=0.5)
    log.close()
    row = json.loads((tmp_path / "log.jsonl").read_text())
    assert row["stage"] == "train-x" and row["step"] == 1 and row["loss"] == 0.5
    assert not (tmp_path / "tensorboard").exists()


def test_a_disabled_log_writes_nothing(tmp_path):
    RunLog(tmp_path / "log.jsonl", enabled=False).write("train-x", step=1, loss=0.5)
    assert not any(tmp_path.iterdir())


def test_tensorboard_gets_every_logged_number_by_stage_and_step(tmp_path):
    pytest.importorskip("tensorboard")  # the optional extra `tensorboard`
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = RunLog(tmp_path / "log.jsonl")
    for step, loss in [(1, 0.75), (2, 0.5)]:
        log.write("train-x", step=step, total=2, lr=0.1, images_per_s=3.0, loss=loss)
    log.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"train-x/lr", "train-x/images_per_s", "train-x/loss"}
    assert [(e.step, e.value) for e in events.Scalars("train-x/loss")] == [(1, 0.75), (2, 0.5)]
