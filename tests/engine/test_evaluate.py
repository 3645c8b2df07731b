import math

import numpy as np
import pytest

from wsss.engine.evaluate import ConfusionMatrix, format_table

GT = np.array([
    [0, 0, 1, 1],
    [0, 0, 1, 1],
    [0, 0, 255, 255],
    [2, 2, 2, 2],
], dtype=np.uint8)


def test_hand_checked_iou_with_void_ignored():
    pred = np.array([
        [0, 0, 1, 0],
        [0, 0, 1, 1],
        [0, 1, 1, 1],  # (2,1) is wrong; the two void pixels never count
        [2, 2, 0, 0],
    ], dtype=np.uint8)
    cm = ConfusionMatrix(4)
    cm.update(pred, GT)
    s = cm.scores()
    # class 0: tp 5, gt 6, pred 8 -> 5/9 ; class 1: tp 3, gt 4, pred 4 -> 3/5 ; class 2: 2/4
    assert s["iou"][0] == pytest.approx(5 / 9)
    assert s["iou"][1] == pytest.approx(3 / 5)
    assert s["iou"][2] == pytest.approx(2 / 4)
    assert math.isnan(s["iou"][3])  # absent class: NaN, not 0
    assert s["miou"] == pytest.approx((5 / 9 + 3 / 5 + 2 / 4) / 3)
    assert s["pixel_accuracy"] == pytest.approx(10 / 14)
    assert s["recall"][1] == pytest.approx(3 / 4)
    assert s["precision"][0] == pytest.approx(5 / 8)


def test_abstentions_scored_three_ways():
    pred = GT.copy()
    pred[0, 0] = 255  # abstain on a background pixel
    pred[0, 2] = 255  # abstain on a class-1 pixel
    scores = {}
    for mode in ("as_background", "excluded", "as_error"):
        cm = ConfusionMatrix(3)
        cm.update(pred, GT, ignore_mode=mode)
        scores[mode] = cm.scores()["iou"]
    assert scores["excluded"] == [1.0, 1.0, 1.0]
    assert scores["as_background"][0] == pytest.approx(6 / 7) and scores["as_background"][1] == pytest.approx(3 / 4)
    assert scores["as_error"][0] == pytest.approx(5 / 6) and scores["as_error"][1] == pytest.approx(3 / 4)


def test_accumulates_over_images_and_merges():
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(GT, GT)
    b.update(np.zeros_like(GT), GT)
    both = ConfusionMatrix(3)
    both.update(GT, GT)
    both.update(np.zeros_like(GT), GT)
    a.merge(b)
    assert (a.matrix == both.matrix).all()
    assert a.matrix.sum() == 28


def test_shape_mismatch_and_unknown_mode_are_errors():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="differ in size"):
        cm.update(GT[:2], GT)
    with pytest.raises(ValueError, match="ignore mode"):
        cm.update(GT, GT, ignore_mode="whatever")


def test_table_marks_absent_classes_and_means_the_rest():
    table = format_table(["bg", "cat"], {"A": [0.5, float("nan")], "B": [0.25, 0.75]})
    assert "| cat | - | 75.0 |" in table
    assert "| **mIoU** | **50.0** | **50.0** |" in table


def test_confident_pixels_score_fg_and_bg_seeds_separately():
    from wsss.engine.evaluate import confident_pixels

    seeds = np.array([
        [0, 255, 1, 1],
        [0, 0, 1, 255],
        [1, 255, 255, 255],  # (2,0): background labelled 1; two void pixels never count
        [2, 1, 255, 255],
    ], dtype=np.uint8)
    cm = ConfusionMatrix(4)
    cm.update(seeds, GT)
    s = confident_pixels(cm, background=True)
    # fg labels: (0,2) (0,3) (1,2) right; (2,0) (3,1) wrong; (3,0) right -> 4 of 6
    assert s["fg_precision"] == pytest.approx(4 / 6)
    assert s["fg_recall"] == pytest.approx(4 / 8)  # 4 object pixels of class 1, 4 of class 2
    assert s["bg_precision"] == pytest.approx(1.0) and s["bg_recall"] == pytest.approx(3 / 6)
    assert s["ignored"] == pytest.approx(5 / 14)  # 14 non-void ground-truth pixels
    assert math.isnan(confident_pixels(cm, background=False)["bg_precision"])
