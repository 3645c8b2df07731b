"""A method is one package: a toy method registered here runs through the ``wsss`` CLI unchanged."""
import json
import re
from dataclasses import dataclass

import numpy as np
import pytest

from wsss.cli import main
from wsss.config import ConfigError, load_config
from wsss.methods import get_method, register, unregister
from wsss.methods.base import PREDICTIONS, Method, Product, Stage
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.per_image import map_images


@dataclass(frozen=True)
class ToyConfig:
    """Every pixel gets the label ``fill``."""

    fill: int = 0


def _constant_labels(cfg, ctx, kind):
    folder = ArtifactDir(ctx.paths.labels(kind, ctx.split), ctx.fingerprint(toy=cfg), ".png")

    def make_process():
        return lambda image_id, image, labels: (np.full(image.shape[-2:], cfg.fill, np.uint8), None)
    return map_images(folder, ctx.dataset(), ctx.runtime, make_process, kind)


TOY = Method(
    name="toy", summary="labels every pixel with one class",
    sections={"toy": ToyConfig},
    stages=(
        Stage("toy-label", lambda cfg, ctx: _constant_labels(cfg, ctx, "toy"), "label the training split",
              section="toy", produces=Product("toy", "labels", "toy {name}")),
        Stage("toy-predict", lambda cfg, ctx: [_constant_labels(cfg, ctx, "preds")], "label the val split",
              section="toy", split="val", produces=PREDICTIONS),
    ),
)


@pytest.fixture
def toy():
    register(TOY)
    yield TOY
    unregister(TOY.name)


@pytest.fixture
def run_args(tmp_path, demo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return [f"data.root={demo_root}", "demo.num_train=16", "demo.num_val=6", "demo.size=64",
            "demo.num_classes=3", "workers=0", "name=t"]


def test_a_toy_method_runs_through_the_cli_with_its_own_section(toy, run_args, tmp_path, capsys):
    assert main(["run", "--quiet", "method=toy", "toy.fill=0", *run_args]) == 0
    out = capsys.readouterr().out
    header = out[out.index("| class"):].splitlines()[0]
    assert "toy train" in header and "seg val" in header
    metrics = json.loads((tmp_path / "runs" / "t" / "metrics.json").read_text())
    assert set(metrics) == {"toy/train", "seg/val", "timings_s"}
    assert set(metrics["timings_s"]) == {"toy-label", "toy-predict"}
    background = metrics["toy/train"]["as_error"]["iou"][0]
    assert 0 < background < 1 and metrics["toy/train"]["as_error"]["iou"][1] == 0  # all pixels say background
    assert "method: toy" in (tmp_path / "runs" / "t" / "config.yaml").read_text()


def test_a_method_stage_is_a_sub_command(toy, run_args, tmp_path):
    assert main(["toy-label", "--quiet", "method=toy", *run_args]) == 0
    assert len(list((tmp_path / "runs" / "t" / "toy" / "train").glob("*.png"))) == 16
    assert not (tmp_path / "runs" / "t" / "preds").exists()  # `until` stopped after the stage


def test_wsss_methods_lists_every_method_and_its_stages(toy, capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "psa:" in out and "train-cls -> cams -> [saliency] -> seeds -> train-aff -> pseudo -> train-seg -> predict" in out
    assert "toy:" in out and "toy-label -> toy-predict" in out


def test_a_section_of_another_method_is_an_error_naming_it(toy):
    with pytest.raises(ConfigError, match="'seeds' belongs to method 'psa', not to method 'toy'"):
        load_config(overrides=["method=toy", "seeds.alpha_low=3"])
    with pytest.raises(ConfigError, match="'toy' belongs to method 'toy', not to method 'psa'"):
        load_config(overrides=["toy.fill=1"])
    with pytest.raises(ConfigError, match="unknown config key 'nothing'"):
        load_config(overrides=["method=toy", "nothing.x=1"])


def test_a_stage_of_another_method_names_the_method_s_stages(toy, run_args, capsys):
    assert main(["seeds", "--quiet", "method=toy", *run_args]) == 1
    assert "method 'toy' has no stage 'seeds'; its stages: ['toy-label', 'toy-predict']" in capsys.readouterr().err


def test_cli_and_config_name_no_method(repo_root):
    names = [m for m in ("psa", "auxsegnet", "aalr", "prototype", "toy")]
    for module in ("cli.py", "config.py"):
        text = (repo_root / "src" / "wsss" / module).read_text().lower()
        assert not [n for n in names if re.search(rf"\b{n}\b", text)], module


def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(KeyError, match="available"):
        get_method("nope")


def test_an_extra_command_of_another_method_names_its_method(toy, run_args, tmp_path, capsys):
    assert main(["sweep-pseudo", "--quiet", "method=toy", *run_args]) == 1
    assert "`wsss sweep-pseudo` is a command of method psa, not of 'toy'" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "t").exists()  # refused before the run folder was made


def test_split_is_refused_for_a_stage_that_runs_on_its_own_split_only(run_args, tmp_path, capsys):
    own_split = Method(name="toy", summary="", sections={"toy": ToyConfig}, stages=(
        Stage("cams", lambda cfg, ctx: _constant_labels(cfg, ctx, "toy"), "label the training split", section="toy"),))
    register(own_split)
    try:
        assert main(["cams", "--quiet", "--split", "val", "method=toy", *run_args]) == 1
    finally:
        unregister("toy")
    assert "method 'toy' runs 'cams' on its own split only; drop --split" in capsys.readouterr().err


def test_a_stage_name_shared_by_methods_shows_each_method_s_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "psa: random-walk pseudo labels" in out and "aalr: the trained network's on-the-fly masks" in out
    assert "predict the val split (or --split)" in out
