"""Training curves: rows of log.jsonl on one step axis per stage, drawn when matplotlib is there."""
import json

import pytest

from wsss.report.curves import draw_curves, loss_terms, read_log, step_axis


def _rows(steps):
    return [{"stage": "s", "step": step, "lr": 0.1, "loss": float(step)} for step in steps]


def test_a_resumed_run_replaces_the_rows_it_logs_again():
    series = step_axis(_rows([2, 4, 6, 8, 6, 8, 10]))  # killed after 8, resumed from the checkpoint at 4
    assert [row["x"] for row in series] == [2, 4, 6, 8, 10]


def test_rounds_that_start_over_follow_each_other():
    series = step_axis(_rows([2, 4, 2, 4]))  # AuxSegNet: the same stage, round after round
    assert [row["x"] for row in series] == [2, 4, 6, 8]
    assert [row["loss"] for row in series] == [2.0, 4.0, 2.0, 4.0]


def test_read_log_groups_stages_and_skips_a_cut_line(tmp_path):
    path = tmp_path / "log.jsonl"
    lines = [json.dumps(row) for row in _rows([1, 2])] + [json.dumps({"stage": "t", "step": 1, "lr": 1, "a": 0.5,
                                                                      "images_per_s": 9.0})]
    path.write_text("\n".join(lines) + '\n{"stage": "t", "st')
    log = read_log(path)
    assert list(log) == ["s", "t"] and len(log["s"]) == 2 and len(log["t"]) == 1
    assert loss_terms(log["t"]) == ["a"]
    assert read_log(tmp_path / "missing.jsonl") == {}


def test_draw_curves_writes_one_png_per_stage(tmp_path):
    pytest.importorskip("matplotlib")
    written = draw_curves({"train-x": step_axis(_rows([1, 2, 3]))}, tmp_path)
    assert written == [("train-x", tmp_path / "curves-train-x.png")]
    assert (tmp_path / "curves-train-x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
