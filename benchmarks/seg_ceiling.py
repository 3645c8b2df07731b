"""The segmentation stage trained on ground-truth masks: the val mIoU no pseudo labels can beat.

A method's pseudo labels reach the segmentation stage (``train-seg``) as label PNGs; this script
gives it the train split's ground-truth masks instead, with the config's schedule, backbone and
seed, then predicts the val split single- and multi-scale + flip and scores both. When the
stage trained on pseudo labels falls far below their train mIoU, this row says whether the labels
or the data size and schedule are what hold it back.

    PYTHONPATH=src python benchmarks/seg_ceiling.py --config configs/psa_coco_voc_mini.yaml \\
        data.root=../shared/data/coco_voc_mini --out-dir /tmp/ceiling --out results.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from measure import describe_machine, machine, markdown
from wsss.config import RunConfig, load_config, save_config, to_dict
from wsss.data import generate_demo
from wsss.engine.runtime import Runtime, create_runtime, seed_everything
from wsss.methods import get_method
from wsss.stages.artifacts import ArtifactDir
from wsss.stages.context import StageContext
from wsss.stages.evaluation import evaluate_labels
from wsss.stages.per_image import Process, map_images
from wsss.stages.pipeline import Pipeline
from wsss.stages.segmentation import predict_segmentation, train_segmentation


def ground_truth_labels(ctx: StageContext) -> ArtifactDir:
    """``gt/<split>/``: the split's ground-truth masks as label PNGs (any dataset layout)."""
    dataset = ctx.dataset()
    if not dataset.has_masks:  # before the folder is begun: no partial output
        raise SystemExit(f"{dataset.source}: split {ctx.split!r} has no masks; the ceiling needs them")
    folder = ArtifactDir(ctx.paths.labels("gt", ctx.split), ctx.fingerprint(labels="ground truth"), ".png")

    def make_process() -> Process:
        return lambda image_id, image, labels: (dataset.read_mask(image_id), None)

    return map_images(folder, dataset, ctx.runtime, make_process, f"ground truth {ctx.split}")


def measure(cfg: RunConfig, runtime: Runtime) -> list[dict]:
    """Train ``train-seg`` on ground truth, predict and score val; one row per prediction."""
    if cfg.data.kind == "demo":
        generate_demo(Path(cfg.data.root), cfg.demo)
    pipeline = Pipeline(get_method(cfg.method), cfg, runtime)
    train = pipeline.context(pipeline.method.stage("train-seg"))
    labels = ground_truth_labels(train)
    seed_everything(cfg.seed)
    start = time.perf_counter()
    train_segmentation(cfg.seg, train, labels)
    seconds = time.perf_counter() - start
    save_config(cfg, pipeline.paths.config)
    val = pipeline.context(pipeline.method.stage("predict"))
    rows = []
    for folder in predict_segmentation(cfg.seg, val):
        scores = evaluate_labels(folder.path, val.dataset(), show_progress=False)["as_error"]
        rows.append({"prediction": folder.path.name, "miou": 100 * scores["miou"], "train_s": seconds,
                     "iou": dict(zip(val.classes.names, scores["iou"], strict=True))})
    return rows


COLUMNS = [("prediction", "prediction", "{}"), ("miou", "val mIoU, trained on ground truth", "{:.1f}"),
           ("train_s", "training s", "{:.0f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a method's YAML (its model, seg and data sections)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs"), help="where the run folder goes")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=Path("seg_ceiling.json"))
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, [*args.overrides, f"out_dir={args.out_dir}"])
    runtime = create_runtime(cfg.device, cfg.seed, cfg.workers)
    rows = measure(cfg, runtime)
    info = machine(runtime.device)
    setup = {"config": args.config, "overrides": args.overrides, "run": str(cfg.run_dir),
             "seg": to_dict(cfg.seg), "machine": info}
    args.out.write_text(json.dumps({"setup": setup, "results": rows}, indent=2))
    print(markdown(rows, COLUMNS))
    print(f"\n{describe_machine(info)}")


if __name__ == "__main__":
    main()
