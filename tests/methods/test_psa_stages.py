"""PSA's own steps on hand-made inputs: seeds from CAMs, and the random walk to labels."""
import numpy as np
import torch
from torch import nn

from wsss.methods.psa.config import PseudoConfig, SeedConfig
from wsss.data.classes import ClassSet
from wsss.methods.psa.pseudo import RandomWalker
from wsss.methods.psa.seeds import seed_label

WITH_BG = ClassSet(("background", "cat", "dog", "cow"), has_background=True)
NO_BG = ClassSet(("grass", "sky", "cow"), has_background=False)
IMAGE = np.zeros((4, 6, 3), np.uint8)


def test_seeds_with_background_keep_confident_pixels_only():
    cams = np.zeros((1, 4, 6), np.float32)
    cams[0, :, :2] = 1.0  # certainly the object
    cams[0, :, 2:4] = 0.2  # unsure: weak bg loses, strong bg ... wins only where cam is tiny
    seed, method = seed_label(IMAGE, cams, np.array([2]), WITH_BG, SeedConfig(refine="none"))
    assert method == "none"
    assert (seed[:, :2] == 3).all()  # fg index 2 -> mask value 3 (cow)
    assert (seed[:, 4:] == 0).all()  # cam 0 -> confident background
    # cam 0.2: low alpha bg (0.8^4 = 0.41) beats 0.2 -> not fg; high alpha bg (0.8^32 ~ 0.0008) loses -> not bg
    assert (seed[:, 2:4] == 255).all()


def test_seeds_without_background_use_the_cam_confidence():
    cams = np.zeros((2, 4, 6), np.float32)
    cams[0, :, :3] = 0.9
    cams[1, :, 3:] = 0.8
    cams[1, 0, 0] = 0.95
    cams[:, 3, :] = 0.1  # a weak row: ignored
    seed, _ = seed_label(IMAGE, cams, np.array([0, 2]), NO_BG, SeedConfig(refine="none", fg_threshold=0.3))
    assert seed[0, 0] == 2 and (seed[1:3, :3] == 0).all() and (seed[1:3, 3:] == 2).all()
    assert (seed[3] == 255).all()


class _ConstantEmbedding(nn.Module):
    """An 'AffinityNet' whose embeddings split the image into left and right halves."""

    def forward(self, x):
        h, w = x.shape[-2] // 8, x.shape[-1] // 8
        feats = torch.zeros(1, 1, h, w)
        feats[..., w // 2:] = 10.0
        return feats

    def affinities(self, x, offsets):
        from wsss.ops.affinity import affinity_from_features
        return affinity_from_features(self(x), offsets)


def test_random_walk_spreads_a_partial_cam_over_its_region():
    image = torch.zeros(3, 64, 64)
    cams = torch.zeros(1, 64, 64)
    cams[0, :, :20] = 1.0  # the CAM covers 20 of the 32 columns of the left region
    walker = RandomWalker(_ConstantEmbedding(), PseudoConfig(steps=64, alpha=16, radius=3), WITH_BG)
    label, method = walker(image, cams, np.array([0]))
    assert method == "none" and label.shape == (64, 64)
    assert (label[:, :28] == 1).mean() > 0.95  # the walk fills the rest of the left region ...
    assert (label[:, 36:] == 0).mean() > 0.95  # ... and stops at its edge


class _NearlyConstantEmbedding(nn.Module):
    """Embeddings whose pairs all have affinities within 1e-3 of 1 (a trained net on a flat region)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        nn.init.normal_(self.conv.weight, std=1e-4)

    def forward(self, x):
        return self.conv(x[..., ::8, ::8])


def test_affinity_loss_and_gradients_stay_finite_under_bf16_autocast():
    from wsss.methods.psa.affinity import AffinityStep

    net = _NearlyConstantEmbedding()
    seeds = torch.zeros(2, 64, 64, dtype=torch.long)
    seeds[:, :, 32:] = 1  # negative pairs across the middle, where the affinity is ~1
    batch = {"image": torch.rand(2, 3, 64, 64), "mask": seeds}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = AffinityStep(radius=3, background=True)(net, batch)
    assert terms["loss"].dtype == torch.float32
    assert torch.isfinite(terms["loss"]) and terms["neg"] > 5  # -log(1e-5 + 1 - a) with a near 1
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_threshold_rule_scales_each_walked_map_to_its_peak_behind_a_constant_background():
    walker = RandomWalker(_ConstantEmbedding(), PseudoConfig(background="threshold", bg_threshold=0.25), WITH_BG)
    walked = torch.tensor([[[0.4, 0.2, 0.04]], [[0.1, 0.3, 0.06]]])  # two classes, three pixels
    scores = walker.label_scores(walked)
    assert torch.allclose(scores, torch.tensor([[[0.25, 0.25, 0.25]], [[1.0, 0.5, 0.1]], [[1 / 3, 1.0, 0.2]]]))
    assert scores.argmax(0).tolist() == [[1, 2, 0]]
    assert walker.label_scores(torch.zeros(0, 1, 3)).tolist() == [[[0.25] * 3]]  # no class: background


def test_threshold_rule_keeps_the_background_of_a_weak_cam_through_a_long_walk():
    image = torch.zeros(3, 64, 64)
    cams = torch.zeros(1, 64, 64)
    cams[0, :, :20] = 0.3  # a weak CAM on the left region: PSA's (1 - 0.3)^16 background loses it
    cams[0, :, 36:] = 0.02  # faint activation on the right, background by the CAM's own rule
    walker = RandomWalker(_ConstantEmbedding(), PseudoConfig(steps=256, background="threshold", radius=3), WITH_BG)
    label, _ = walker(image, cams, np.array([0]))
    assert (label[:, :28] == 1).mean() > 0.95 and (label[:, 36:] == 0).mean() > 0.95
    assert walker.prepare(image, cams, [16.0])[1].shape[0] == 1  # only the class map walks
