from wsss.stages.artifacts import config_diff


def test_a_changed_or_new_setting_differs_and_one_that_no_longer_counts_does_not():
    saved = {"seg": {"lr": 0.1, "scales": [1.0]}, "seed": 0}
    assert config_diff(saved, {"seg": {"lr": 0.1}, "seed": 0}) == []
    assert config_diff(saved, {"seg": {"lr": 0.2}, "seed": 0}) == ["seg.lr"]
    assert config_diff(saved, {"seg": {"lr": 0.1, "head": "aspp"}, "seed": 0}) == ["seg.head"]
    assert config_diff({"demo": {"size": 64}}, {"ids": ["a"]}) == ["ids"]
