"""The pseudo-label sweep: its cell at the run's own (alpha, t) is the pseudo stage's score."""
import json

import pytest
from wsss.cli import main


@pytest.fixture
def run_args(tmp_path, demo_root, fast_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return [*fast_run, f"data.root={demo_root}", "name=t"]


def test_sweep_cell_of_the_configured_walk_equals_the_pseudo_labels_score(run_args, tmp_path, capsys):
    run = tmp_path / "runs" / "t"
    assert main(["pseudo", "--quiet", *run_args]) == 0
    assert main(["eval", "--quiet", *run_args, "--path", str(run / "pseudo" / "train")]) == 0
    # the fast run walks 16 steps with PSA's alpha 16; options go after the overrides
    assert main(["sweep-pseudo", "--quiet", *run_args, "--alphas", "4", "16", "--steps", "16", "4"]) == 0
    out = capsys.readouterr().out
    assert "| alpha \\ t | 4 | 16 |" in out and "| 16 |" in out
    metrics = json.loads((run / "metrics.json").read_text())
    sweep = metrics["sweep/pseudo/train"]
    assert sweep["alphas"] == [4, 16] and sweep["steps"] == [4, 16]
    assert sweep["miou"][1][1] == pytest.approx(metrics["eval/pseudo/train/train"]["as_error"]["miou"], abs=1e-9)


def test_sweep_trains_what_it_needs_and_refuses_outputs_of_another_config(run_args, tmp_path, capsys):
    assert main(["sweep-pseudo", "--quiet", *run_args, "--alphas", "8", "--steps", "4"]) == 0
    assert (tmp_path / "runs" / "t" / "checkpoints" / "aff.pt").is_file()
    capsys.readouterr()
    assert main(["sweep-pseudo", "--quiet", *run_args, "aff.radius=3"]) == 1
    err = capsys.readouterr().err
    assert "aff.pt was made with another configuration" in err and "aff.radius" in err


@pytest.mark.parametrize("option", [["--steps", "-4"], ["--alphas", "0"]])
def test_sweep_refuses_negative_walks_and_non_positive_alphas(run_args, option, capsys):
    assert main(["pseudo", "--quiet", *run_args]) == 0
    assert main(["sweep-pseudo", "--quiet", *run_args, *option]) == 1
    assert "walk lengths must be >= 0 and alphas > 0" in capsys.readouterr().err


def test_sweep_of_the_threshold_rule_matches_the_pseudo_labels_score(run_args, tmp_path, capsys):
    run, args = tmp_path / "runs" / "t", [*run_args, "pseudo.background=threshold"]
    assert main(["pseudo", "--quiet", *args]) == 0
    assert main(["eval", "--quiet", *args, "--path", str(run / "pseudo" / "train")]) == 0
    assert main(["sweep-pseudo", "--quiet", *args, "--alphas", "4", "16", "--steps", "16", "0"]) == 0
    assert "| bg 0.25 |" in capsys.readouterr().out  # the alphas do not apply: one row
    metrics = json.loads((run / "metrics.json").read_text())
    sweep = metrics["sweep/pseudo/train"]
    assert sweep["alphas"] == ["bg 0.25"] and sweep["steps"] == [0, 16]
    assert sweep["miou"][0][1] == pytest.approx(metrics["eval/pseudo/train/train"]["as_error"]["miou"], abs=1e-9)
