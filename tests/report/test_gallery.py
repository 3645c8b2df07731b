"""The gallery: per-image mIoU, worst first, capped at report.images."""
import json

import numpy as np
import pytest

from wsss.config import ReportConfig, load_config
from wsss.data import build_dataset
from wsss.io import read_label_png
from wsss.methods import get_method
from wsss.report.contents import scored_folders
from wsss.report.gallery import build_gallery, image_iou
from wsss.stages.layout import RunPaths


def test_image_iou_counts_255_as_an_error_and_ignores_void_ground_truth():
    gt = np.array([[0, 1], [1, 255]], np.uint8)
    pred = np.array([[0, 1], [0, 255]], np.uint8)
    assert image_iou(pred, gt, 3) == pytest.approx((1 / 2 + 1 / 2) / 2)  # class 2 absent: NaN, left out
    assert image_iou(np.full((2, 2), 255, np.uint8), gt, 3) == 0.0


def test_rows_are_the_worst_images_of_the_last_label_folder(finished_run):
    run, args = finished_run
    cfg = load_config(run / "config.yaml")
    paths = RunPaths(run)
    scored = [entry for entry in scored_folders(json.loads(paths.metrics.read_text()), get_method("psa"))
              if entry.split == "train"]
    dataset = build_dataset(cfg.data, "train", progress=False)
    gallery = build_gallery("train", scored, dataset, ReportConfig(images=5, thumbnail=32), paths, False)
    assert gallery.ranked_by == "pseudo (RW) train" and gallery.total == 16 and len(gallery.rows) == 5
    ious = [image_iou(read_label_png(run / "pseudo" / "train" / f"{i}.png"), read_label_png(dataset.mask_path(i)),
                      dataset.classes.num_classes) for i in dataset.ids]
    assert [row.iou for row in gallery.rows] == pytest.approx(sorted(ious)[:5])
    first = gallery.rows[0]
    cams = first.cells[gallery.titles.index("CAM train")]
    present = [dataset.classes.foreground_names[k] for k in np.flatnonzero(dataset.labels_of(first.image_id))]
    assert [tile.caption for tile in cams] == present  # one heat map per class of the image
    assert all((run / tile.src).is_file() for cell in first.cells for tile in cell)
