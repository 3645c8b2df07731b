"""PSA's fidelity settings against references built in float64 from plain tensors, as the
authors' released code computes them (``train_aff.py``, ``infer_aff.py``)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wsss.data.classes import ClassSet
from wsss.methods.psa.affinity import AffinityStep
from wsss.methods.psa.config import PseudoConfig
from wsss.methods.psa.pseudo import RandomWalker
from wsss.ops.affinity import neighbor_offsets

H, W, RADIUS, STRIDE = 10, 12, 5, 8
CLASSES = ClassSet(("background", "a", "b", "c"), has_background=True)


def _crop_pairs(h, w, r):
    """(source, neighbour, offset index) of the authors' pair set: sources in rows [:-(r-1)], cols [r-1:-(r-1)]."""
    band = r - 1
    for k, (dy, dx) in enumerate(neighbor_offsets(r)):
        for y in range(h - band):
            for x in range(band, w - band):
                yield (y, x), (y + dy, x + dx), k


class _GivenAffinities(nn.Module):
    """A stand-in AffinityNet that returns fixed half-neighbourhood affinities."""

    def __init__(self, aff):
        super().__init__()
        self.aff = aff

    def affinities(self, image, offsets):
        self.seen = image
        return self.aff[None]


def test_fidelity_walk_equals_the_dense_float64_reference_border_band_included():
    g = torch.Generator().manual_seed(0)
    offsets = neighbor_offsets(RADIUS)
    aff = torch.rand(len(offsets), H, W, generator=g, dtype=torch.float64) * 0.98 + 0.01
    size = (H * STRIDE - 5, W * STRIDE - 3)  # padded to a multiple of 8 at the bottom and right
    cams = torch.rand(2, *size, generator=g, dtype=torch.float64)
    beta, alpha, logt = 8.0, 16.0, 4
    cfg = PseudoConfig(pairs="crop", bg_at="image", pad_to=8, beta=beta, alpha=alpha, steps=2 ** logt,
                       radius=RADIUS)
    net = _GivenAffinities(aff)
    walked = RandomWalker(net, cfg, CLASSES).walk(torch.full((3, *size), 0.5), cams)

    n = H * W
    affinity = torch.zeros(n, n, dtype=torch.float64)
    for (y, x), (v, u), k in _crop_pairs(H, W, RADIUS):
        affinity[y * W + x, v * W + u] = affinity[v * W + u, y * W + x] = aff[k, y, x]
    weights = affinity ** beta + torch.eye(n, dtype=torch.float64)
    trans = weights / weights.sum(0, keepdim=True)
    for _ in range(logt):
        trans = trans @ trans
    background = (1 - cams.max(0).values) ** alpha  # at full resolution, padded with 0, pooled
    padded = F.pad(torch.cat([background[None], cams]), (0, 3, 0, 5))
    grid = F.avg_pool2d(padded[None], STRIDE)[0]
    reference = (grid.reshape(3, n) @ trans).reshape(3, H, W)
    assert walked.dtype == torch.float64
    assert (walked - reference).abs().max().item() < 1e-10
    seen = net.seen[0]  # the network sees the image padded with its mean colour (0 once normalised)
    assert seen.shape == (3, H * STRIDE, W * STRIDE) and (seen[:, :size[0], :size[1]] == 0.5).all()
    assert torch.allclose(seen[:, size[0]:, :], torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1).expand(3, 5, -1))


def test_padded_walk_is_cropped_back_to_the_image_size():
    aff = torch.rand(len(neighbor_offsets(3)), 9, 12, dtype=torch.float64)
    walker = RandomWalker(_GivenAffinities(aff), PseudoConfig(pad_to=8, radius=3, steps=4), CLASSES)
    label, _ = walker(torch.rand(3, 70, 90), torch.rand(1, 70, 90), np.array([1]))
    assert label.shape == (70, 90) and set(np.unique(label)) <= {0, 2}


class _GivenFeatures(nn.Module):
    def __init__(self, feats):
        super().__init__()
        self.feats = feats

    def forward(self, image):
        return self.feats


def test_fidelity_affinity_loss_equals_a_per_pair_float64_loop_over_the_authors_pairs():
    g = torch.Generator().manual_seed(1)
    feats = torch.rand(1, 6, H, W, generator=g, dtype=torch.float64)
    seeds = torch.randint(0, 3, (1, H, W), generator=g)
    seeds[0, 2:5, 3:7] = 255
    terms = AffinityStep(RADIUS, background=True, crop=True)(_GivenFeatures(feats), {"image": None, "mask": seeds})

    sums = {"bg_pos": [], "fg_pos": [], "neg": []}
    for (y, x), (v, u), _ in _crop_pairs(H, W, RADIUS):
        a, b = int(seeds[0, y, x]), int(seeds[0, v, u])
        if 255 in (a, b):
            continue
        affinity = math.exp(-(feats[0, :, y, x] - feats[0, :, v, u]).abs().mean().item())
        if a != b:
            sums["neg"].append(-math.log(1 + 1e-5 - affinity))
        else:
            sums["bg_pos" if a == 0 else "fg_pos"].append(-math.log(affinity + 1e-5))
    means = {name: np.mean(values) for name, values in sums.items()}
    assert all(len(values) > 10 for values in sums.values())
    expected = means["bg_pos"] / 4 + means["fg_pos"] / 4 + means["neg"] / 2
    assert abs(terms["loss"].item() - expected) < 1e-10
    for name, value in means.items():
        assert abs(terms[name].item() - value) < 1e-10


def test_pooled_seed_scores_give_the_authors_stride_8_labels(tmp_path):
    from wsss.methods.psa.affinity import PooledSeedScores

    la = np.zeros((2, 16, 24), np.float32)  # channels: background, then mask value 2
    ha = np.zeros((2, 16, 24), np.float32)
    la[1, :8, :8], la[0, :8, :8] = 0.7, 0.3  # block (0,0): object wins the weak background ...
    ha[0, :8, :8], ha[1, :8, :8] = 0.2, 0.8  # ... and the strong background loses: object
    la[1, :8, 8:16], ha[0, :8, 8:16] = 0.6, 0.9  # (0,1): strong background wins: background
    la[0, 8:, :8], ha[1, 8:, :8] = 0.9, 0.9  # (1,0): neither is sure: ignored
    la[1, :4, 16:], la[0, 4:8, 16:], ha[1, :8, 16:] = 1.0, 0.9, 1.0  # (0,2): pooled 0.5 vs 0.45
    np.savez(tmp_path / "a.scores.npz", la=la, ha=ha, values=np.array([0, 2], np.uint8))
    source = PooledSeedScores(tmp_path, num_classes=3)
    spread = source("a")
    assert spread.shape == (6, 16, 24) and (spread[[1, 4]] == 0).all()  # class 1 is absent
    label = source.finish(torch.from_numpy(spread))
    # bottom row: (1,1) and (1,2) hold no score at all (like a crop's padding): ignored
    assert label.tolist() == [[2, 0, 2], [255, 255, 255]]
    with pytest.raises(Exception, match="b.scores.npz: file not found"):
        source("b")


def test_pooled_seed_labels_train_affinity_net_end_to_end(tmp_path, demo_root, fast_run, monkeypatch):
    from wsss.cli import main

    monkeypatch.chdir(tmp_path)
    args = [*fast_run, f"data.root={demo_root}", "name=p", "seeds.labels_at_stride=pooled"]
    assert main(["train-aff", "--quiet", *args]) == 0
    seeds = tmp_path / "runs" / "p" / "seeds" / "train"
    assert len(list(seeds.glob("*.scores.npz"))) == len(list(seeds.glob("*.png"))) == 16
    assert (tmp_path / "runs" / "p" / "checkpoints" / "aff.pt").is_file()


def test_pooled_seed_labels_are_refused_before_any_stage_without_a_background_class(tmp_path, demo_root, fast_run,
                                                                                     capsys, monkeypatch):
    import shutil

    from wsss.cli import main

    root = tmp_path / "nobg"
    shutil.copytree(demo_root, root)
    (root / "demo.json").unlink()
    names = (root / "classes.txt").read_text().split()
    assert names[0] == "background"
    (root / "classes.txt").write_text("\n".join(["ground", *names[1:]]))  # now no background class
    monkeypatch.chdir(tmp_path)
    args = [*fast_run, "data.kind=voc", f"data.root={root}", "data.labels=masks", "seeds.labels_at_stride=pooled"]
    assert main(["run", "--quiet", *args]) == 1
    assert "needs a dataset with a background class" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "demo" / "checkpoints").exists()
