"""A seeded synthetic dataset in VOC layout whose CAMs are partial, as on real photos.

Each object is a large BODY whose colour and texture are drawn from one distribution shared
by every class (so the body cannot tell the class, yet clearly stands out from the
background), carrying a small class-specific DISCRIMINATIVE PART (a two-colour pattern on
8-14% of the body). The mask labels the whole body with the class. A classifier learns the
parts, so its CAMs cover a fraction of each object, and affinity / random-walk methods have a
real body to recover. Backgrounds are multi-tone, noisy and differ per image.

``saliency/<id>.png`` imitates an off-the-shelf salient-object detector, so methods that take
saliency (AuxSegNet) run offline on the demo: the objects' bodies, blurred, with a detector's
errors drawn at random (an object missed, a bite out of one, a false blob on the background) and
noise. It is made from the shapes, not learned: it proves the plumbing, not a detector.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from wsss.config import DemoConfig
from wsss.data.classes import BACKGROUND, voc_palette
from wsss.io import DataFileError, atomic_write_text, write_label_png

VERSION = 3  # bump when scenes change, so stale demo sets are regenerated
BODY_DIAMETER = (0.45, 0.7)  # of the image side: large next to the CAM's blur, as in photos
PART_AREA = (0.08, 0.14)  # of the body: the classifier's evidence covers a small part of it
OBJECTS_PER_IMAGE = {1: 0.45, 2: 0.4, 3: 0.15}  # a third object shrinks to fit
MANIFEST = "demo.json"
# The imitated detector's errors, per object (missed, bitten) and per image (a false blob)
SALIENCY_MISS, SALIENCY_BITE, SALIENCY_FALSE_BLOB = 0.1, 0.3, 0.25
PATTERNS = ("stripes", "checker", "dots", "rings", "grid", "zigzag")
PART_COLOURS = (  # (name, pattern colour, ground colour)
    ("red", (225, 25, 30), (250, 245, 235)),
    ("yellow", (250, 215, 0), (20, 20, 20)),
    ("cyan", (0, 210, 230), (15, 15, 60)),
    ("magenta", (230, 0, 200), (250, 250, 120)),
    ("green", (20, 200, 40), (250, 250, 250)),
    ("orange", (255, 130, 0), (0, 40, 160)),
    ("white", (250, 250, 250), (0, 0, 0)),
)
Window = tuple[slice, slice]
MAX_CLASSES = len(PATTERNS) * len(PART_COLOURS)  # k -> (k % 6, k % 7) distinct below it


@dataclass
class SceneObject:
    """One object: foreground class index, its body and its discriminative part (bool HxW)."""

    cls: int
    body: np.ndarray
    part: np.ndarray


@dataclass
class Scene:
    """A rendered image, its mask and the objects in it (in drawing order)."""

    image: np.ndarray  # (S, S, 3) uint8
    mask: np.ndarray  # (S, S) uint8 mask values: 0 background, class k -> k + 1
    objects: list[SceneObject]


def class_names(num_classes: int) -> list[str]:
    """Foreground class names, named after their discriminative part, e.g. ``red-stripes``."""
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"demo.num_classes must be in 1..{MAX_CLASSES}, got {num_classes}")
    return [f"{PART_COLOURS[k % len(PART_COLOURS)][0]}-{PATTERNS[k % len(PATTERNS)]}"
            for k in range(num_classes)]


def generate_demo(root: Path, cfg: DemoConfig) -> Path:
    """Write the demo set to ``root`` (skipped when ``root/demo.json`` matches ``cfg``).

    The set is built in a temporary folder beside ``root`` and renamed into place with its
    manifest written last, so an interrupted run never leaves a set that looks complete.
    """
    root = Path(root)
    manifest = _manifest(cfg)
    if _read_manifest(root) == manifest:
        return root
    if root.exists() and any(root.iterdir()) and _read_manifest(root) is None:
        raise DataFileError(f"{root}: exists and is not a demo dataset (no {MANIFEST}); "
                            f"choose an empty or new folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".tmp"))
    try:
        _write_dataset(tmp, cfg)
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2))
        _swap_in(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def make_scene(rng: np.random.Generator, size: int, classes: list[int]) -> Scene:
    """Render one image with one object per entry of ``classes`` (fg indices); an object
    that finds no free spot is left out (the mask, hence the labels, agree)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    image = _background(rng, size)  # planar (3, S, S) float32: fast on small images
    mask = np.zeros((size, size), np.uint8)
    objects: list[SceneObject] = []
    for cls in classes:
        obj = _place_object(rng, yy, xx, cls, objects)
        if obj is None:
            continue
        win = _window(obj.body)
        _paint(image, obj.body, win, _body_texture(rng, yy[win], xx[win]))
        win = _window(obj.part)
        _paint(image, obj.part, win, _part_pattern(rng, yy[win], xx[win], cls, obj.part[win]))
        mask[obj.body] = cls + 1
        objects.append(obj)
    image += rng.uniform(-6, 6, image.shape).astype(np.float32)  # sensor noise everywhere
    pixels = np.clip(image, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return Scene(np.ascontiguousarray(pixels), mask, objects)


def _window(region: np.ndarray) -> Window:
    """Bounding box of a boolean region: textures are computed there only."""
    rows, cols = np.flatnonzero(region.any(1)), np.flatnonzero(region.any(0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _paint(image: np.ndarray, region: np.ndarray, win: Window, texture: np.ndarray) -> None:
    """Copy ``texture`` (3, h, w) of window ``win`` into ``image`` where ``region`` is set."""
    inside = region[win]
    image[:, win[0], win[1]][:, inside] = texture[:, inside]


def _write_dataset(out: Path, cfg: DemoConfig) -> None:
    names = class_names(cfg.num_classes)
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", "saliency"):
        (out / folder).mkdir(parents=True)
    (out / "classes.txt").write_text("\n".join([BACKGROUND, *names]) + "\n")
    plan = _class_plan(np.random.default_rng(cfg.seed), cfg.num_train + cfg.num_val, cfg.num_classes)
    ids = [f"demo_{i:05d}" for i in range(len(plan))]
    palette = voc_palette()
    for index, (id, classes) in enumerate(zip(ids, plan)):
        scene = make_scene(np.random.default_rng([cfg.seed, index]), cfg.size, classes)
        Image.fromarray(scene.image).save(out / "JPEGImages" / f"{id}.jpg", quality=95, subsampling=0)
        write_label_png(out / "SegmentationClass" / f"{id}.png", scene.mask, palette)
        saliency = imitate_detector(np.random.default_rng([cfg.seed, index, 1]), scene)
        Image.fromarray(saliency, "L").save(out / "saliency" / f"{id}.png")
    for split, split_ids in (("train", ids[: cfg.num_train]), ("val", ids[cfg.num_train:])):
        (out / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{i}\n" for i in split_ids))


def imitate_detector(rng: np.random.Generator, scene: Scene) -> np.ndarray:
    """A detector-like saliency map (S, S) uint8 of ``scene``: blurred bodies with random errors."""
    size = scene.mask.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    salient = np.zeros((size, size), np.float32)
    for obj in scene.objects:
        if rng.random() < SALIENCY_MISS:
            continue
        body = obj.body.copy()
        if rng.random() < SALIENCY_BITE:
            cy, cx = np.argwhere(body)[rng.integers(body.sum())]
            body &= (yy - cy) ** 2 + (xx - cx) ** 2 > (0.15 * size) ** 2
        salient[body] = rng.uniform(0.7, 1.0)
    if rng.random() < SALIENCY_FALSE_BLOB:
        blob = _blob(rng, yy, xx, rng.uniform(0.1, 0.25) * size)
        salient = np.maximum(salient, blob * rng.uniform(0.4, 0.8))
    blurred = Image.fromarray((salient * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(size / 40))
    noisy = np.asarray(blurred, np.float32) + rng.normal(0, 8, (size, size))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _class_plan(rng: np.random.Generator, num_images: int, num_classes: int) -> list[list[int]]:
    """1-3 distinct classes per image, dealt from shuffled decks so classes stay balanced."""
    deck: list[int] = []
    plan = []
    for _ in range(num_images):
        count = min(int(rng.choice(list(OBJECTS_PER_IMAGE), p=list(OBJECTS_PER_IMAGE.values()))), num_classes)
        chosen: list[int] = []
        while len(chosen) < count:
            fresh = [i for i, cls in enumerate(deck) if cls not in chosen]
            if not fresh:
                deck += rng.permutation(num_classes).tolist()
                continue
            chosen.append(deck.pop(fresh[0]))
        plan.append(chosen)
    return plan


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth random field in [0, 1] of ``shape``: a cells x cells grid upsampled bicubically."""
    grid = Image.fromarray(rng.random((cells, cells), dtype=np.float32))
    return np.clip(np.asarray(grid.resize(shape[::-1], Image.BICUBIC)), 0, 1)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in [0, 1]) as float RGB in [0, 255], shaped (3, 1, 1)."""
    rgb = Image.new("HSV", (1, 1), (int(h * 255), int(s * 255), int(v * 255))).convert("RGB")
    return np.array(rgb.getpixel((0, 0)), np.float32).reshape(3, 1, 1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multi-tone, low-saturation mottled ground with grain, different in every image."""
    tones = [_hsv(rng.random(), rng.uniform(0, 0.22), rng.uniform(0.25, 0.9)) for _ in range(3)]
    mix = _smooth_noise(rng, (size, size), int(rng.integers(2, 6)))
    detail = 0.35 * _smooth_noise(rng, (size, size), int(rng.integers(10, 24)))
    grain = rng.uniform(-1, 1, (size, size)).astype(np.float32) * rng.uniform(4, 14)
    image = tones[0] * mix + tones[1] * (1 - mix)
    return image * (1 - detail) + tones[2] * detail + grain


def _body_texture(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Saturated base colour with directional shading and mottling, class-independent."""
    colour = _hsv(rng.random(), rng.uniform(0.45, 0.8), rng.uniform(0.45, 0.85))
    angle = rng.uniform(0, 2 * np.pi)
    along = np.cos(angle) * (x - x.mean()) + np.sin(angle) * (y - y.mean())
    shade = 1 + 0.25 * along / max(along.max(), 1)
    mottle = 0.85 + 0.3 * _smooth_noise(rng, y.shape, int(rng.integers(5, 9)))
    return colour * (shade * mottle)


def _part_pattern(
    rng: np.random.Generator, y: np.ndarray, x: np.ndarray, cls: int, part: np.ndarray
) -> np.ndarray:
    """The two-colour pattern of class ``cls`` (PATTERNS[cls % 6] in PART_COLOURS[cls % 7])."""
    _, ink, ground = PART_COLOURS[cls % len(PART_COLOURS)]
    on = _pattern(PATTERNS[cls % len(PATTERNS)], y - y[part].mean(), x - x[part].mean(),
                  float(rng.uniform(4, 6)))
    return np.where(on, np.float32(ink).reshape(3, 1, 1), np.float32(ground).reshape(3, 1, 1))


def _pattern(kind: str, y: np.ndarray, x: np.ndarray, period: float) -> np.ndarray:
    """Boolean pattern with the given period over coordinates centred on the part."""
    half = period / 2
    if kind == "stripes":
        return np.floor(y / half) % 2 == 0
    if kind == "checker":
        return (np.floor(y / half) + np.floor(x / half)) % 2 == 0
    if kind == "dots":
        return (np.mod(y, period) - half) ** 2 + (np.mod(x, period) - half) ** 2 < (0.32 * period) ** 2
    if kind == "rings":
        return np.floor(np.hypot(y, x) / half) % 2 == 0
    if kind == "grid":
        return (np.mod(y, period) < 1.6) | (np.mod(x, period) < 1.6)
    return np.floor((y + np.abs(np.mod(x, 2 * period) - period)) / half) % 2 == 0  # zigzag


def _place_object(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, cls: int, placed: list[SceneObject]
) -> SceneObject | None:
    """A body that overlaps earlier bodies only slightly and never hides their parts, with
    its part inside it; None when no free spot is found."""
    size = yy.shape[0]
    for attempt in range(40):
        diameter = size * rng.uniform(*BODY_DIAMETER) * (1 - attempt / 80)  # shrink when crowded
        body = _blob(rng, yy, xx, diameter)
        if body.sum() < 0.5 * np.pi * (diameter / 2) ** 2 or not _fits(body, placed):
            continue
        part = _part_in(rng, yy, xx, body)
        if part is not None:
            return SceneObject(cls, body, part)
    return None


def _fits(body: np.ndarray, placed: list[SceneObject]) -> bool:
    """At most 12% overlap with any earlier body and none with its part."""
    for other in placed:
        shared = np.count_nonzero(body & other.body)
        if shared > 0.12 * min(body.sum(), other.body.sum()) or (body & other.part).any():
            return False
    return True


def _blob(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, diameter: float) -> np.ndarray:
    """A rotated superellipse with a wavy outline (ellipses, rounded squares, blobs)."""
    size = yy.shape[0]
    aspect = rng.uniform(0.7, 1.4)
    a, b = diameter / 2 * np.sqrt(aspect), diameter / 2 / np.sqrt(aspect)
    margin = 0.8 * max(a, b)
    cy, cx = rng.uniform(margin, size - margin, 2)
    angle, power = rng.uniform(0, np.pi), rng.uniform(2, 3.5)
    waves = [(rng.uniform(-0.07, 0.07), k, rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)]
    reach = 1.5 * max(a, b)  # the outline stays within this distance of the centre
    window = tuple(slice(max(0, int(c - reach)), min(size, int(c + reach) + 2)) for c in (cy, cx))
    y, x = yy[window] - cy, xx[window] - cx
    u = (x * np.cos(angle) + y * np.sin(angle)) / a
    v = (y * np.cos(angle) - x * np.sin(angle)) / b
    radius = (np.abs(u) ** power + np.abs(v) ** power) ** (1 / power)
    theta = np.arctan2(v, u)
    body = np.zeros((size, size), bool)
    body[window] = radius < 1 + sum(amp * np.cos(k * theta + phase) for amp, k, phase in waves)
    return body


def _part_in(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, body: np.ndarray
) -> np.ndarray | None:
    """An elliptic part of PART_AREA of the body's area, entirely inside it, at a random spot."""
    area = rng.uniform(*PART_AREA) * body.sum()
    aspect = rng.uniform(0.75, 1.33)
    ry, rx = np.sqrt(area / np.pi * aspect), np.sqrt(area / np.pi / aspect)
    centres = np.argwhere(body)
    for cy, cx in centres[rng.permutation(len(centres))[:30]]:
        part = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        if not (part & ~body).any():
            return part
    return None


def _manifest(cfg: DemoConfig) -> dict:
    return {"generator": "wsss.data.demo", "version": VERSION, "config": dataclasses.asdict(cfg),
            "classes": [BACKGROUND, *class_names(cfg.num_classes)]}


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _swap_in(tmp: Path, root: Path) -> None:
    """Replace ``root`` (absent, empty, or a stale demo set) by the finished ``tmp``."""
    if root.exists():
        old = tmp.with_name(tmp.name + ".old")
        os.replace(root, old)
        shutil.rmtree(old)
    os.replace(tmp, root)
