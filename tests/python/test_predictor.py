"""tether.Predictor: EIPredictor's shape (model directory, input/output name maps, the
accelerator switch), TensorFlow-style names, and errors that say what to do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import MLP, save

import tether


@pytest.fixture
def model_dir(tmp_path, mlp):
    d = tmp_path / "export"
    d.mkdir()
    save(mlp.model(), d / "model.onnx")
    return d


def test_predictor_on_cpu_maps_keys(mlp, model_dir):
    p = tether.Predictor(model_dir, input_names={"inputs": "x"}, output_names={"scores": "y"},
                         use_accelerator=False, quiet=True)
    x = np.random.default_rng(4).standard_normal((3, 16)).astype(np.float32)
    out = p({"inputs": x})
    assert list(out) == ["scores"]
    np.testing.assert_allclose(out["scores"], mlp.reference(x), rtol=1e-5, atol=1e-5)
    assert p.target == "cpu"


def test_predictor_defaults_to_model_names_and_tf_style_names(mlp, model_dir):
    p = tether.Predictor(model_dir / "model.onnx", use_ei=False, quiet=True)  # EIPredictor's spelling
    x = np.ones((1, 16), np.float32)
    np.testing.assert_allclose(p({"x": x})["y"], mlp.reference(x), rtol=1e-5, atol=1e-5)
    q = tether.Predictor(model_dir, input_names={"in": "x:0"}, output_names={"out": "y:0"}, use_accelerator=False,
                         quiet=True)
    np.testing.assert_allclose(q({"in": x})["out"], mlp.reference(x), rtol=1e-5, atol=1e-5)


def test_predictor_finds_the_one_onnx_file(tmp_path, mlp):
    d = tmp_path / "d"
    d.mkdir()
    save(mlp.model(), d / "classifier.onnx")
    assert tether.Predictor(d, use_accelerator=False, quiet=True).model_path.name == "classifier.onnx"
    save(MLP(seed=5).model(), d / "other.onnx")
    with pytest.raises(tether.InvalidArgumentError, match="2 .onnx models"):
        tether.Predictor(d, use_accelerator=False)


def test_predictor_explains_a_saved_model_dir(tmp_path):
    d = tmp_path / "saved"
    d.mkdir()
    (d / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(tether.UnsupportedError, match="SavedModel, not an ONNX model") as e:
        tether.Predictor(d)
    assert f"python -m tf2onnx.convert --saved-model {d} --output {d}/model.onnx" in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(tether.NotFoundError, match="no .onnx model"):
        tether.Predictor(empty)


def test_predictor_on_an_accelerator_not_attached_says_what_to_do(model_dir):
    with pytest.raises(tether.TetherError) as e:
        tether.Predictor(model_dir, accelerator_id=3, quiet=True)
    msg = str(e.value)
    assert "eia:3" in msg and "tether attach" in msg and "use_accelerator=False" in msg


def test_predictor_rejects_unknown_names(model_dir):
    with pytest.raises(tether.InvalidArgumentError, match="no input 'image'"):
        tether.Predictor(model_dir, input_names={"a": "image"}, use_accelerator=False)
    p = tether.Predictor(model_dir, use_accelerator=False, quiet=True)
    with pytest.raises(tether.InvalidArgumentError, match="unknown input key 'images'"):
        p({"images": np.ones((1, 16), np.float32)})


def test_tensorflow_only_options_warn(model_dir):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tether.Predictor(model_dir, use_accelerator=False, signature_def_key="serving_default", quiet=True)
    assert any("signature_def_key" in str(x.message) for x in w)


def test_accelerator_calls_fail_clearly_without_a_server():
    """Nothing is attached in a fresh tether home, and nothing listens on port 1. Until the
    attach work lands the command says it is not implemented (UnsupportedError); after, the
    list is empty and attaching fails with the network's reason. Either way: an exception
    carrying the command's message, never a silent success."""
    try:
        assert tether.describe_accelerators() == []
    except tether.UnsupportedError as e:
        assert "not implemented" in str(e)
    with pytest.raises(tether.TetherError) as e:
        tether.attach("eia2.medium", "127.0.0.1:1")
    assert str(e.value) and not str(e.value).startswith("tether ")
    with pytest.raises(tether.TetherError):
        tether.detach(0)
    with pytest.raises(tether.InvalidArgumentError):
        tether.attach("", "127.0.0.1:1")
