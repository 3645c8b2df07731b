"""`wsss report` on a finished run: every picture the page links exists, the tables hold the
metrics, it renders in a real browser, and it still writes without matplotlib."""
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from wsss.cli import main
from wsss.engine.evaluate import percent
from wsss.report.curves import INSTALL_HINT


class _Page(HTMLParser):
    """The <img> sources and the tables (rows of cell texts) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images, self.tables, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _parse(run):
    page = _Page()
    page.feed((run / "report.html").read_text())
    return page


def _column(tables, title):
    """{row name: cell} of the column called ``title`` in the first table that has it."""
    for rows in tables:
        if title in rows[0]:
            index = rows[0].index(title)
            return {row[0]: row[index] for row in rows[1:]}
    raise AssertionError(f"no table has a column {title!r}")


def test_run_writes_the_report_and_wsss_report_rewrites_it(finished_run):
    run, args = finished_run
    assert (run / "report.html").is_file()  # written at the end of `wsss run`
    (run / "report.html").unlink()
    assert main(["report", "--run", str(run), "--quiet"]) == 0
    page = _parse(run)
    assert page.images and all((run / src).is_file() for src in page.images)
    assert not any(src.startswith("/") for src in page.images)
    curves = [src for src in page.images if "curves-" in src]
    assert sorted(curves) == ["report/curves-train-aff.png", "report/curves-train-cls.png",
                              "report/curves-train-seg.png"]
    metrics = json.loads((run / "metrics.json").read_text())
    pseudo = _column(page.tables, "pseudo (RW) train")
    assert pseudo["mIoU"] == percent(metrics["pseudo/train"]["as_error"]["miou"])
    assert pseudo["background"] == percent(metrics["pseudo/train"]["as_error"]["iou"][0])
    assert _column(page.tables, "seg val-ms")["mIoU"] == percent(metrics["seg/val-ms"]["as_error"]["miou"])
    assert _column(page.tables, "CAM train (bg 0.25)")["mIoU"] == percent(metrics["cam/train"]["fixed"]["miou"])
    assert _column(page.tables, "fg precision")["seeds/train"] == percent(metrics["seeds/train"]["confident"]["fg_precision"])


def test_the_gallery_shows_every_scored_folder_of_both_splits(finished_run):
    run, _ = finished_run
    assert main(["report", "--run", str(run), "--quiet", "report.images=2"]) == 0
    page = _parse(run)
    train, val = [rows for rows in page.tables if rows[0][0] == "image (mIoU %)"]
    assert train[0] == ["image (mIoU %)", "image", "ground truth", "CAM train", "seeds train (confident px only)",
                        "pseudo (RW) train"]
    assert val[0] == ["image (mIoU %)", "image", "ground truth", "seg val-ss", "seg val-ms"]
    assert len(train) == len(val) == 3  # the header and report.images rows
    folders = {path.parent.name for path in (run / "report").glob("*/*/*")}
    assert len(folders) == 4  # 2 images per split; the pictures of the earlier report are gone
    html = (run / "report.html").read_text()
    assert html.count('<span class="key"><span class="swatch"') == 4 + 1  # 3 demo classes, background, 255


def test_without_matplotlib_the_report_says_how_to_get_curves(finished_run, monkeypatch):
    run, _ = finished_run
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["report", "--run", str(run), "--quiet"]) == 0
    assert INSTALL_HINT.split(":")[0] in (run / "report.html").read_text()
    assert not list((run / "report").glob("curves-*.png"))


def test_a_folder_that_is_not_a_run_is_named(tmp_path, capsys):
    assert main(["report", "--run", str(tmp_path)]) == 1
    assert f"{tmp_path / 'config.yaml'}: not found" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs the Debian package chromium")
def test_the_report_renders_in_headless_chromium(finished_run, tmp_path):
    run, _ = finished_run
    assert main(["report", "--run", str(run), "--quiet"]) == 0
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", (run / "report.html").resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (3000, 1200, 3)
    assert (pixels.min(axis=2) < 200).mean() > 0.01  # text, tables, curves and pictures: not a blank page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # the heat maps and photos bring colour
