"""log.jsonl rows, and the same numbers in TensorBoard event files when tensorboard is installed."""
import json
import sys

import pytest

from wsss.engine.run_log import RunLog


def test_drop_after_keeps_other_nets_and_earlier_steps_and_drops_a_cut_line(tmp_path):
    log = RunLog(tmp_path / "log.jsonl")
    for step in (1, 2, 3):
        log.write("train-aux", net="aux-r0", step=step)
        log.write("train-aux", net="aux-r1", step=step)
    with log.path.open("a") as handle:
        handle.write('{"stage": "train-aux", "net": "aux-r1", "st')  # a kill mid-line
    log.drop_after(1, stage="train-aux", net="aux-r1")
    rows = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [(r["net"], r["step"]) for r in rows] == [("aux-r0", 1), ("aux-r1", 1), ("aux-r0", 2), ("aux-r0", 3)]
    log.write("train-aux", net="aux-r1", step=2)
    assert json.loads(log.path.read_text().splitlines()[-1])["step"] == 2


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
    events = EventAccumulator(str(tmp_path / "tensorboard" / "train-x"))  # a row without net: its stage
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"train-x/lr", "train-x/images_per_s", "train-x/loss"}
    assert [(e.step, e.value) for e in events.Scalars("train-x/loss")] == [(1, 0.75), (2, 0.5)]


def test_a_resumed_net_hides_its_own_tensorboard_steps_past_the_checkpoint_only(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = RunLog(tmp_path / "log.jsonl")
    for step in (1, 2, 3):
        log.write("train-cls", net="cls", step=step, loss=float(step))
        log.write("train-aff", net="aff", step=step, loss=float(step))
    log.close()
    resumed = RunLog(tmp_path / "log.jsonl")  # the classifier goes on from its checkpoint at step 1
    resumed.drop_after(1, stage="train-cls", net="cls")
    for step in (2, 3):
        resumed.write("train-cls", net="cls", step=step, loss=10.0 * step)
    resumed.close()

    def losses(net):
        events = EventAccumulator(str(tmp_path / "tensorboard" / net))
        events.Reload()
        return [(e.step, e.value) for e in events.Scalars(f"train-{net}/loss")]
    assert losses("cls") == [(1, 1.0), (2, 20.0), (3, 30.0)]
    assert losses("aff") == [(1, 1.0), (2, 2.0), (3, 3.0)]
