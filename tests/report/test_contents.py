"""Scores are matched to the run's method by its products, so a later method needs no report change."""
from wsss.methods.base import CAMS, Method, Product, Stage
from wsss.report.contents import file_name, scored_folders

ROUNDS = Product("rounds", "labels", "round {name}")
LATER = Method(name="later", summary="a method the report was not written for",
               stages=(Stage("cams", None, "", produces=CAMS), Stage("relabel", None, "", produces=ROUNDS)))


def test_scored_folders_follow_the_stages_and_know_their_folder():
    metrics = {"rounds/train-r1": {"folder": "relabelled/train-r1", "split": "train"},
               "cam/train": {"folder": "cams/train", "split": "train"},
               "eval/cams/train/train": {}, "timings_s": {"cams": 1.0}, "other/x": {}}
    scored = scored_folders(metrics, LATER)
    assert [entry.key for entry in scored] == ["cam/train", "rounds/train-r1"]
    assert scored[1].title == "round train-r1" and scored[1].folder == "relabelled/train-r1"
    assert scored[1].split == "train" and scored[0].product is CAMS


def test_file_name_keeps_only_safe_characters():
    assert file_name("2007_000032") == "2007_000032"
    assert file_name("a/b c:d") == "a_b_c_d"
