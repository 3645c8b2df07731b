import json

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
