"""The model factory: kinds, plain-data constructor arguments, rebuilding from a checkpoint."""
import pytest
import torch

from wsss.engine.checkpoint import CheckpointError
from wsss.models.aalr_net import AALRNet
from wsss.models.affinity_net import AffinityNet
from wsss.models.auxsegnet import AuxSegNet
from wsss.models.backbones import create_backbone
from wsss.models.base import TaskNet
from wsss.models.cam_net import CAMNet
from wsss.models.factory import available_models, create_model, model_from_checkpoint, register_model
from wsss.models.prototype_net import PrototypeNet
from wsss.models.seg_net import SegNet

CASES = {
    "cam": (CAMNet, {"num_classes": 3, "dropout": 0.3}),
    "affinity": (AffinityNet, {"dims": (8, 16, 32)}),
    "segmentation": (SegNet, {"num_classes": 3, "head": "aspp", "head_channels": 16}),
    "auxsegnet": (AuxSegNet, {"num_classes": 3, "channels": 8, "frozen": ["stem"]}),
    "aalr": (AALRNet, {"num_classes": 3, "num_tags": 2, "head_channels": 8, "embed_dims": 4}),
    "prototype": (PrototypeNet, {"num_classes": 3, "num_tags": 2, "prototypes": 2, "head_channels": 8,
                                 "embed_dims": 4}),
}


def build(kind: str) -> TaskNet:
    return create_model(kind, backbone="tiny", output_stride=8, pretrained=False, **CASES[kind][1])


def is_plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def test_available_models_lists_the_built_in_kinds():
    assert available_models() == ["aalr", "affinity", "auxsegnet", "cam", "prototype", "segmentation"]


@pytest.mark.parametrize("kind", CASES)
def test_create_model_builds_the_kind_and_records_plain_arch(kind, tmp_path):
    net = build(kind)
    assert type(net) is CASES[kind][0]
    assert net.backbone.strides[-1] == 8
    expected = {"kind": kind, "backbone": "tiny", "output_stride": 8,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in CASES[kind][1].items()}}
    assert net.arch == expected and is_plain(net.arch)
    torch.save({"arch": net.arch}, tmp_path / "arch.pt")
    assert torch.load(tmp_path / "arch.pt", weights_only=True)["arch"] == expected


@pytest.mark.parametrize("kind", CASES)
def test_model_from_checkpoint_rebuilds_the_same_network(kind, tmp_path):
    torch.manual_seed(0)
    net = build(kind).eval()
    torch.save({"arch": net.arch, "model": net.state_dict()}, tmp_path / "net.pt")
    torch.manual_seed(1)  # a different random start: equal outputs must come from the loaded weights
    rebuilt = model_from_checkpoint(torch.load(tmp_path / "net.pt", weights_only=True)).eval()
    assert type(rebuilt) is type(net) and rebuilt.arch == net.arch
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("arch", [{}, {"arch": None}])
def test_a_checkpoint_without_arch_asks_to_retrain(arch):
    net = CAMNet(create_backbone("tiny"), 3)  # built without the factory: net.arch is None
    with pytest.raises(CheckpointError, match="no 'arch' entry .* retrain the stage"):
        model_from_checkpoint({"model": net.state_dict(), **arch})


def test_create_model_loads_the_backbone_weights_file(tmp_path):
    source = create_backbone("tiny", pretrained=False)
    torch.save(source.state_dict(), tmp_path / "tiny.pt")
    net = create_model("cam", backbone="tiny", weights=str(tmp_path / "tiny.pt"), num_classes=2)
    for key, tensor in source.state_dict().items():
        assert torch.equal(net.backbone.state_dict()[key], tensor), key
    assert net.arch == {"kind": "cam", "backbone": "tiny", "output_stride": 16, "num_classes": 2}


def test_unknown_kind_lists_the_available_ones():
    with pytest.raises(KeyError, match="unknown model kind 'unet'; available: ") as err:
        create_model("unet", backbone="tiny", pretrained=False)
    assert all(kind in str(err.value) for kind in CASES)


def test_arguments_a_checkpoint_cannot_hold_are_refused():
    with pytest.raises(TypeError, match="not plain data"):
        create_model("cam", backbone="tiny", pretrained=False, num_classes=3, dropout=torch.tensor(0.5))


def test_a_kind_registers_once():
    with pytest.raises(ValueError, match="'cam' is already registered to CAMNet"):
        register_model("cam")(CAMNet)
