"""``--skip-bad``: leave out the images whose files cannot be used, and say which and why.

Every file of the split is decoded once; an id whose image or mask has a problem (undecodable,
missing, wrong size, values out of range) is left out, listed in ``skipped-<split>.txt`` with its
problem and counted in ``metrics.json`` (``skipped/<split>``). Problems that belong to no single
image (an unknown class in a labels file, a bad split list) still stop the run.
"""
from __future__ import annotations

from wsss.data import SegDataset, check_dataset
from wsss.engine.runtime import Runtime
from wsss.io import atomic_write_text
from wsss.stages.common import DataProblemsError, format_problems
from wsss.stages.evaluation import update_metrics
from wsss.stages.layout import RunPaths


def usable_ids(dataset: SegDataset, root: str, split: str, paths: RunPaths, runtime: Runtime) -> list[str]:
    """The ids of ``dataset`` whose files are all usable; the others are recorded (main process)."""
    owner = {path: id for id in dataset.ids for path in (dataset.image_path(id), dataset.mask_path(id))
             if path is not None}
    problems = check_dataset(dataset, progress=runtime.progress, workers=runtime.workers)
    general = [problem for problem in problems if problem.path not in owner]
    skipped: dict[str, str] = {}
    for problem in problems:
        if problem.path in owner:
            skipped.setdefault(owner[problem.path], str(problem))
    if general or len(skipped) == len(dataset.ids):
        raise DataProblemsError(format_problems(general or problems, root, split))
    if runtime.is_main:
        listing = paths.skipped(split)
        atomic_write_text(listing, "".join(f"{id}\t{why}\n" for id, why in skipped.items()))
        update_metrics(paths.metrics, f"skipped/{split}", {"count": len(skipped), "list": listing.name})
        if skipped:
            print(f"skipped {len(skipped)} image(s) of split '{split}' with bad files; see {listing}", flush=True)
    return [id for id in dataset.ids if id not in skipped]
