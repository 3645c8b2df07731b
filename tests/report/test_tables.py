"""The report's tables, from metrics.json entries."""
import math

from wsss.methods.base import Product
from wsss.report.contents import Scored
from wsss.report.tables import iou_table, metrics_html

NAMES = ("background", "cat")


def _labels(iou, ignored=0.0):
    confident = {"fg_precision": 0.5, "fg_recall": 0.25, "bg_precision": 1.0, "bg_recall": 0.75, "ignored": ignored}
    return {"as_error": {"iou": iou, "miou": sum(iou) / len(iou)}, "confident": confident}


def test_iou_table_shows_missing_classes_as_a_dash_and_leaves_them_out_of_the_mean():
    html = iou_table(NAMES, {"a": [0.5, math.nan]})
    assert "<td>cat</td><td class=\"num\">-</td>" in html
    assert '<tr class="mean"><td>mIoU</td><td class="num">50.0</td></tr>' in html


def test_metrics_html_holds_products_confident_pixels_wsss_eval_and_timings():
    pseudo = Scored("pseudo/train", Product("pseudo", "labels", "pseudo {name}"), _labels([0.8, 0.4], ignored=0.1))
    metrics = {"pseudo/train": pseudo.scores, "timings_s": {"pseudo": 2.5},
               "eval/cams/train/train": {"argmax": {"iou": [0.2, 0.6], "miou": 0.4}}}
    html = metrics_html(NAMES, [pseudo], metrics)
    assert "<th>pseudo train</th>" in html and '<td class="num">60.0</td>' in html  # the mIoU of 80 and 40
    assert "<td>pseudo/train</td><td class=\"num\">50.0</td>" in html  # fg precision: it leaves pixels at 255
    assert "<th>CAM cams/train/train (argmax)</th>" in html and '<td class="num">40.0</td>' in html
    assert "<td>pseudo</td><td class=\"num\">2.5</td>" in html


def test_a_run_without_metrics_says_so():
    assert "No metrics.json yet" in metrics_html(NAMES, [], {})
