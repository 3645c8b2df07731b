"""``wsss report``: one static ``report.html`` in the run folder, its pictures under ``report/``,
every link relative, so the folder can be copied anywhere and opened with no server."""
from __future__ import annotations

import shutil
from pathlib import Path

from wsss.config import RunConfig
from wsss.data import ClassSet, build_dataset
from wsss.engine.evaluate import percent
from wsss.io import atomic_write_text
from wsss.methods import get_method
from wsss.report.contents import read_metrics, scored_folders
from wsss.report.curves import INSTALL_HINT, draw_curves, read_log
from wsss.report.gallery import Gallery, build_galleries
from wsss.report.html import document, note, picture, section, table, text
from wsss.report.tables import metrics_html
from wsss.stages.layout import RunPaths


def write_report(cfg: RunConfig, paths: RunPaths, show_progress: bool = True) -> Path:
    """Write ``paths.report`` (and its pictures, replacing earlier ones) for the run ``cfg``
    describes; returns its path."""
    if paths.report_files.is_dir():
        shutil.rmtree(paths.report_files)
    method = get_method(cfg.method)
    metrics = read_metrics(paths.metrics)
    scored = scored_folders(metrics, method)
    classes = build_dataset(cfg.data, cfg.data.train_split, progress=show_progress).classes
    galleries = build_galleries(scored, cfg.data, cfg.report, paths, show_progress)
    body = [
        _header(cfg, paths),
        section("Metrics (IoU, %)", metrics_html(classes.names, scored, metrics)),
        section("Training curves", _curves_html(paths)),
        section("Gallery", _legend(classes) + "\n".join(_gallery_html(gallery) for gallery in galleries)
                if galleries else note("Nothing scored yet: the gallery shows the folders `wsss run` scores.")),
    ]
    atomic_write_text(paths.report, document(f"wsss report: {paths.root.name}", body))
    return paths.report


def _header(cfg: RunConfig, paths: RunPaths) -> str:
    """The method, the dataset, and links to the run's own files."""
    files = [f'<a href="{name}">{name}</a>' for name in (paths.config.name, paths.metrics.name, paths.log.name)
             if (paths.root / name).is_file()]
    return (f"<p>method <b>{text(cfg.method)}</b> on <code>{text(cfg.data.root)}</code> ({text(cfg.data.kind)}); "
            f"{', '.join(files)}</p>")


def _curves_html(paths: RunPaths) -> str:
    log = read_log(paths.log)
    if not log:
        return note("No training log (log.jsonl) in this run yet.")
    try:
        figures = draw_curves(log, paths.report_files)
    except ImportError:
        return note(INSTALL_HINT)
    return "\n".join(picture(path.relative_to(paths.root).as_posix(), alt=stage) for stage, path in figures)


def _gallery_html(gallery: Gallery) -> str:
    ranked = f", worst first by the mIoU of {gallery.ranked_by}" if gallery.ranked_by else ""
    header = ["image (mIoU %)", *gallery.titles]
    rows = [[f"{text(row.image_id)}<br>{percent(row.iou)}",
             *("".join(picture(tile.src, tile.caption, label=tile.label) for tile in cell) for cell in row.cells)]
            for row in gallery.rows]
    return section(f"{gallery.split}: {len(gallery.rows)} of {gallery.total} images{ranked}",
                   table(header, rows, numeric_from=len(header)), 3)


def _legend(classes: ClassSet) -> str:
    """The colour of every class in the label maps, and of 255; a swatch never wraps apart from its name."""
    palette = classes.palette()
    names = {**dict(enumerate(classes.names)), 255: "255 (ignored / unsure)"}
    return "<p>" + "".join(f'<span class="key"><span class="swatch" style="background: rgb'
                           f'{tuple(palette[3 * i:3 * i + 3])}"></span>{text(name)}</span> '
                           for i, name in names.items()) + "</p>"
