import pytest
import yaml

from wsss.config import ConfigError, fingerprint_dict, load_config, save_config, to_dict
from wsss.methods import DEFAULT_METHOD, config_class
from wsss.stages.segmentation import SegConfig


def test_defaults_are_the_demo_run_of_the_default_method():
    cfg = load_config()
    assert cfg == config_class(DEFAULT_METHOD)() and cfg.method == DEFAULT_METHOD
    assert cfg.data.kind == "demo" and cfg.cam.scales == (1.0, 1.5, 2.0)


def test_an_unknown_method_lists_the_registered_ones():
    with pytest.raises(ConfigError, match=r"unknown method 'nope'; available: \[.*'psa'"):
        load_config(overrides=["method=nope"])


def test_yaml_file_then_dotted_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ncls:\n  train:\n    lr: 0.1\n    epochs: 3\n")
    cfg = load_config(path, ["cls.train.lr=0.05", "cam.scales=[1.0, 0.5]", "model.weights=/w.pth"])
    assert cfg.name == "a"
    assert cfg.cls.train.epochs == 3
    assert cfg.cls.train.lr == 0.05
    assert cfg.cam.scales == (1.0, 0.5)
    assert cfg.model.weights == "/w.pth"


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(overrides=["cls.train.lr=1"]).cls.train.lr == 1.0
    with pytest.raises(ConfigError, match="cls.train.epochs"):
        load_config(overrides=["cls.train.epochs=2.5"])


@pytest.mark.parametrize("override, key", [
    ("cls.train.lrr=0.1", "cls.train.lrr"),
    ("dat.root=x", "dat"),
    ("model.pretrained=maybe", "model.pretrained"),
    ("cls=3", "cls"),
    ("train.color_jitter=[1,2]", "train"),
    ("cls.train.resize_long=[1,2,3]", "cls.train.resize_long"),
    ("pseudo.bg_at=somewhere", "pseudo.bg_at"),
    ("aff.pairs=some", "aff.pairs"),
    ("report.images=-1", "report.images"),
    ("report.thumbnail=8", "report.thumbnail"),
    ("seg.backbone=resnet_nope", "seg.backbone"),
    ("seg.weights=/some/file.pt", "seg.weights"),
])
def test_bad_keys_and_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides=[override])


def test_override_without_equals_is_rejected():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(overrides=["cls.train.lr"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(bad)


def test_saved_config_loads_back_identically(tmp_path):
    cfg = load_config(overrides=["name=x", "cam.flip=false", "data.classes=/c.txt"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == to_dict(cfg)


def test_shipped_configs_load(repo_root):
    files = sorted((repo_root / "configs").glob("*.yaml"))
    assert files
    for path in files:
        load_config(path)


def test_the_demo_config_file_spells_out_the_built_in_defaults(repo_root):
    assert load_config(repo_root / "configs" / "psa_demo.yaml") == load_config()


def test_the_fingerprint_leaves_out_settings_that_change_no_network_at_any_depth():
    seg = SegConfig()
    tree = fingerprint_dict(seg)
    assert "scales" not in tree and "refine" not in tree and "head" in tree
    assert "log_every" not in tree["train"] and tree["train"]["lr"] == seg.train.lr
    assert {"scales", "refine"} <= set(to_dict(seg)) and "log_every" in to_dict(seg)["train"]  # the YAML keeps all


def test_a_base_file_gives_its_sections_and_the_file_wins_key_by_key(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data.yaml").write_text("cls:\n  train:\n    lr: 0.1\n    epochs: 3\ncam:\n  flip: false\n")
    (tmp_path / "shared" / "more.yaml").write_text("cls:\n  train:\n    epochs: 4\n")
    path = tmp_path / "run.yaml"
    path.write_text("_base_: [shared/data.yaml, shared/more.yaml]\nname: a\ncls:\n  train:\n    lr: 0.2\n")
    cfg = load_config(path, ["cls.train.batch_size=2"])
    assert (cfg.name, cfg.cls.train.lr, cfg.cls.train.epochs, cfg.cls.train.batch_size) == ("a", 0.2, 4, 2)
    assert cfg.cam.flip is False and "_base_" not in to_dict(cfg)


def test_a_base_names_its_file_relative_to_the_including_one_and_may_have_its_own_base(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "root.yaml").write_text("seed: 7\n")
    (tmp_path / "a" / "mid.yaml").write_text("_base_: root.yaml\nname: mid\n")
    (tmp_path / "run.yaml").write_text("_base_: a/mid.yaml\n")
    cfg = load_config(tmp_path / "run.yaml")
    assert (cfg.seed, cfg.name) == (7, "mid")


@pytest.mark.parametrize("files, message", [
    ({"run.yaml": "_base_: gone.yaml\n"}, r"gone\.yaml \(the _base_ of .*run\.yaml\)"),
    ({"run.yaml": "_base_: b.yaml\n", "b.yaml": "_base_: run.yaml\n"}, r"include each other: .*run\.yaml -> .*b\.yaml -> .*run\.yaml"),
    ({"run.yaml": "_base_: 3\n"}, r"'_base_' in .*run\.yaml must be a file path"),
])
def test_a_bad_base_is_an_error_naming_the_files(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "run.yaml")


def test_the_configs_of_one_dataset_share_its_base_sections(repo_root):
    """Every run on a dataset reads the same data, backbone and CAM scales (and, where the methods
    share one classifier checkpoint, the same classifier) from ``configs/_base_/<dataset>.yaml``."""
    shared = {"coco_voc_mini": ("data", "model", "cls", "cam"), "msrc": ("data", "model", "cls", "cam"),
              "camvid": ("data", "model", "cam"), "voc": ("data", "model", "cam"), "coco": ("data", "model", "cam")}
    for dataset, sections in shared.items():
        files = sorted((repo_root / "configs").glob(f"*_{dataset}.yaml"))
        assert len(files) >= 3 and all(yaml.safe_load(path.read_text())["_base_"] == f"_base_/{dataset}.yaml"
                                       for path in files), dataset
        configs = [load_config(path) for path in files]
        for section in sections:
            assert len({repr(getattr(cfg, section)) for cfg in configs}) == 1, (dataset, section)
