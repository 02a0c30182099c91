"""What users moving to tether try first: code written for ONNX Runtime, for TensorFlow's
EIPredictor and around the Elastic Inference tool, run unchanged but for the import (the
scripts in tests/python/migration/, written the way such users write them), and the API
details they lean on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO, MLP, cli_path, make_model, save, tetherd

import tether
import tether as ort  # as migrated code imports it

SCRIPTS = Path(__file__).resolve().parent / "migration"


def run_script(name: str, *args, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs a migration script with Debian's python3, the package under test importable, and
    the tether command on PATH (as an installed one would be)."""
    env = dict(os.environ)
    if os.environ.get("TETHER_TEST_INSTALLED") != "1":
        env["PYTHONPATH"] = str(REPO / "python") + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = str(cli_path().parent) + os.pathsep + env.get("PATH", "")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


# ---- ONNX Runtime ----------------------------------------------------------------------------


def test_onnxruntime_script_runs_unchanged(tmp_path, mlp, mlp_path):
    x = np.random.default_rng(3).standard_normal((6, 16))  # float64, as np.random gives
    x = x.astype(np.float32).astype(np.float64)  # values float32 holds: the script's astype keeps them
    np.save(tmp_path / "x.npy", x)
    proc = run_script("ort_classify.py", mlp_path, tmp_path / "x.npy", tmp_path / "y.npy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(y, mlp.reference(x), rtol=1e-5, atol=1e-5)
    out = proc.stdout
    assert "providers: ['CPUExecutionProvider']" in out
    assert "input: x ['N', 16] tensor(float)" in out and "output: y ['N', 4] tensor(float)" in out
    assert f"top-1: {[int(i) for i in np.argmax(mlp.reference(x), axis=1)]}" in out
    # no GPU here: the CUDA provider is passed over, saying why, as onnxruntime does
    assert "CUDAExecutionProvider (target cuda:0) is not available" in proc.stderr


def test_inference_session_api(mlp, mlp_path):
    sess = ort.InferenceSession(str(mlp_path), providers=["CPUExecutionProvider"])
    (i,), (o,) = sess.get_inputs(), sess.get_outputs()
    assert (i.name, i.shape, i.type) == ("x", ["N", 16], "tensor(float)")
    assert (o.name, o.shape, o.type) == ("y", ["N", 4], "tensor(float)")
    assert repr(i) == "NodeArg(name='x', type='tensor(float)', shape=['N', 16])"
    x = np.ones((2, 16), np.float32)
    res = sess.run(None, {"x": x})
    assert isinstance(res, list) and len(res) == 1
    np.testing.assert_allclose(res[0], mlp.reference(x), rtol=1e-5, atol=1e-5)
    assert sess.run([], {"x": x})[0].shape == (2, 4)  # an empty list is every output, as in onnxruntime
    assert sess.run(["y"], {"x": x}, ort.RunOptions())[0].shape == (2, 4)
    with pytest.raises(tether.InvalidArgumentError, match="no output 'z'"):
        sess.run(["z"], {"x": x})
    assert sess.get_providers() == ["CPUExecutionProvider"]
    assert sess.get_provider_options() == {"CPUExecutionProvider": {}}
    assert isinstance(sess.get_session_options(), ort.SessionOptions)
    assert sess.target == "cpu"
    # the model's bytes, as onnxruntime takes them too
    sess2 = ort.InferenceSession(Path(mlp_path).read_bytes())
    np.testing.assert_array_equal(sess2.run(None, {"x": x})[0], res[0])
    assert ort.get_device() == "CPU"
    assert "CPUExecutionProvider" in ort.get_available_providers()


def test_session_options(mlp_path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.enable_profiling = False
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    sess = ort.InferenceSession(mlp_path, sess_options=so, providers=["CPUExecutionProvider"])
    assert sess.run(None, {"x": np.zeros((1, 16), np.float32)})[0].shape == (1, 4)
    with pytest.raises(AttributeError):
        so.no_such_option = 1  # a misspelt option is an error, as in onnxruntime
    so.intra_op_num_threads = -1
    with pytest.raises(tether.InvalidArgumentError, match="intra_op_num_threads"):
        ort.InferenceSession(mlp_path, sess_options=so)
    # the count reaches the session's config (the C library caps each run at it)
    so.intra_op_num_threads = 3
    s = ort.InferenceSession(mlp_path, sess_options=so)
    assert s.run(None, {"x": np.zeros((1, 16), np.float32)})[0].shape == (1, 4)


def test_providers_map_to_targets(mlp_path):
    # CUDA, alone: a clear error today (no cuda:0 target in this build)
    with pytest.raises(tether.TetherError, match="cuda:0"):
        ort.InferenceSession(mlp_path, providers=["CUDAExecutionProvider"])
    with pytest.raises(tether.TetherError, match="cuda:1"):
        ort.InferenceSession(mlp_path, providers=[("CUDAExecutionProvider", {"device_id": 1})])
    with pytest.raises(tether.TetherError, match="cuda:2"):
        ort.InferenceSession(mlp_path, providers=["CUDAExecutionProvider"], provider_options=[{"device_id": "2"}])
    # a tether target through TetherExecutionProvider: eia:0 is not attached here
    with pytest.raises(tether.TetherError, match="eia:0"):
        ort.InferenceSession(mlp_path, providers=[("TetherExecutionProvider", {"target": "eia:0"})])
    with pytest.raises(tether.InvalidArgumentError, match="needs a target"):
        ort.InferenceSession(mlp_path, providers=["TetherExecutionProvider"])
    with pytest.raises(tether.InvalidArgumentError, match="unknown execution provider 'OpenVINOExecutionProvider'"):
        ort.InferenceSession(mlp_path, providers=["OpenVINOExecutionProvider"])
    # falling back is on by default and can be turned off
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = ort.InferenceSession(mlp_path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert s.get_providers() == ["CPUExecutionProvider"] and any("cuda:0" in str(x.message) for x in w)
    s.set_providers(["CPUExecutionProvider"])
    assert s.get_providers() == ["CPUExecutionProvider"]


def test_a_model_error_is_not_taken_for_a_missing_provider(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0f garbage")
    with pytest.raises(tether.InvalidModelError), pytest.warns(RuntimeWarning, match="cuda:0"):
        ort.InferenceSession(bad, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_onnxruntime_refuses_lossy_feeds_too(tmp_path):
    path = save(make_model([helper.make_node("Identity", ["ids"], ["out"])],
                           [helper.make_tensor_value_info("ids", TensorProto.INT32, ["N"])],
                           [helper.make_tensor_value_info("out", TensorProto.INT32, ["N"])]), tmp_path / "ids.onnx")
    sess = ort.InferenceSession(path)
    assert sess.run(None, {"ids": np.array([1, 2], np.int64)})[0].dtype == np.int32  # exact: converted
    with pytest.raises(tether.InvalidArgumentError, match="3000000000.*int32"):
        sess.run(None, {"ids": np.array([1, 3_000_000_000], np.int64)})


def test_other_frameworks_models_say_how_to_export(tmp_path):
    pt = tmp_path / "resnet.pt"
    pt.write_bytes(b"PK\x03\x04" + b"\0" * 26 + b"resnet/data.pkl resnet/constants.pkl resnet/code/__torch__.py")
    with pytest.raises(tether.UnsupportedError, match=r"TorchScript.*torch\.onnx\.export"):
        ort.InferenceSession(pt)
    sym = tmp_path / "net-symbol.json"
    sym.write_text(json.dumps({"nodes": [], "arg_nodes": [], "heads": [[0, 0, 0]]}))
    with pytest.raises(tether.UnsupportedError, match=r"MXNet.*mx\.onnx\.export_model\('.*net-symbol\.json', "
                                                       r"'.*net-0000\.params'"):
        tether.Session(sym)


# ---- with an accelerator attached from a real tetherd ----------------------------------------


@pytest.fixture
def attached(tmp_path):
    """A tetherd with two cpu.small slots, both attached (eia:0 and eia:1)."""
    with tetherd(tmp_path, slots="cpu.small=2") as server:
        a0 = tether.attach("cpu.small", server)
        a1 = tether.attach("cpu.small", server)
        yield server, [a0, a1]
        for a in sorted((a0, a1), key=lambda d: -d["ordinal"]):
            tether.detach(a["ordinal"])


def test_tether_provider_runs_on_the_attached_accelerator(attached, mlp, mlp_path):
    x = np.random.default_rng(8).standard_normal((3, 16)).astype(np.float32)
    cpu = ort.InferenceSession(mlp_path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    sess = ort.InferenceSession(mlp_path, providers=[("TetherExecutionProvider", {"target": "eia:1"})])
    assert sess.target == "eia:1" and sess.get_providers() == ["TetherExecutionProvider"]
    assert sess.get_provider_options() == {"TetherExecutionProvider": {"target": "eia:1"}}
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], cpu)  # the same engine: bit-identical


@pytest.fixture
def tf_export_dir(tmp_path, mlp):
    """A SavedModel exported to ONNX as tf2onnx names things: tensors "x:0" and "y:0"."""
    m = mlp.model()
    ren = {"x": "x:0", "y": "y:0"}
    for n in m.graph.node:
        n.input[:] = [ren.get(v, v) for v in n.input]
        n.output[:] = [ren.get(v, v) for v in n.output]
    for vi in list(m.graph.input) + list(m.graph.output):
        vi.name = ren.get(vi.name, vi.name)
    d = tmp_path / "export" / "1"
    d.mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(b"\x08\x01")  # the SavedModel it came from stays beside it
    save(m, d / "model.onnx")
    return d


def test_eipredictor_script_runs_unchanged(attached, tmp_path, mlp, tf_export_dir):
    x = np.random.default_rng(5).standard_normal((4, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = run_script("eipredictor_classify.py", tf_export_dir, tmp_path / "x.npy", tmp_path / "y.npy", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), mlp.reference(x), rtol=1e-5, atol=1e-5)
    assert "scores: (4, 4)" in proc.stdout and "max difference from CPU: 0.0" in proc.stdout


def test_eipredictor_shape(attached, mlp, tf_export_dir):
    p = tether.EIPredictor(model_dir=str(tf_export_dir), signature_def_key="serving_default",
                           input_names={"inputs": "x:0"}, output_names={"scores": "y:0"}, use_ei=True,
                           accelerator_id=0)
    assert p.target == "eia:0" and p.use_ei and p.accelerator_id == 0
    assert p.signature_def_key == "serving_default"
    x = np.ones((2, 16), np.float32)
    out = p({"inputs": x})
    assert list(out) == ["scores"]
    np.testing.assert_allclose(out["scores"], mlp.reference(x), rtol=1e-5, atol=1e-5)
    assert p.feed_tensors["inputs"].name == "x:0" and p.fetch_tensors["scores"].name == "y:0"
    # positionally, as TensorFlow's signature orders them; accelerator_id None is the first one
    q = tether.EIPredictor(str(tf_export_dir), None, None, {"inputs": "x:0"}, {"scores": "y:0"}, None, None, None,
                           True, None)
    assert q.target == "eia:0"
    np.testing.assert_array_equal(q({"inputs": x})["scores"], out["scores"])
    with pytest.raises(tether.NotFoundError, match=r"eia:5.*use_ei=False"):
        tether.EIPredictor(model_dir=str(tf_export_dir), use_ei=True, accelerator_id=5)
    with pytest.raises(TypeError):
        tether.EIPredictor(model_dir=str(tf_export_dir), use_accelerator=False)  # not EIPredictor's word


def test_eipredictor_on_a_saved_model_not_yet_exported(tmp_path):
    d = tmp_path / "saved" / "1"
    d.mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(tether.UnsupportedError) as e:
        tether.EIPredictor(model_dir=str(d), use_ei=False)
    assert f"python -m tf2onnx.convert --saved-model {d} --output {d}/model.onnx" in str(e.value)


def test_ei_tool_script_runs_unchanged(attached, tmp_path):
    _, (a0, a1) = attached
    proc = run_script("ei_tool_check.py", 2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"EI client version: {tether.version()}" in proc.stdout and "all accelerators healthy" in proc.stdout
    # EI_VISIBLE_DEVICES, as EI users set it: the second device only, renumbered 0
    proc = run_script("ei_tool_check.py", 1, env_extra={"EI_VISIBLE_DEVICES": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ordinal 0: cpu.small {a1['id']} healthy" in proc.stdout
    proc = run_script("ei_tool_check.py", 1, env_extra={"EI_VISIBLE_DEVICES": a0["id"]})
    assert f"ordinal 0: cpu.small {a0['id']} healthy" in proc.stdout
    # tether's own variable wins where both are set
    proc = run_script("ei_tool_check.py", 1, env_extra={"EI_VISIBLE_DEVICES": "1", "TETHER_VISIBLE_DEVICES": "0"})
    assert f"ordinal 0: cpu.small {a0['id']} healthy" in proc.stdout
    # an empty list hides every device, as EI's did
    proc = run_script("ei_tool_check.py", 0, env_extra={"EI_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0 and "attached accelerators: 0" in proc.stdout


def test_ei_visible_devices_reaches_sessions(attached, mlp_path):
    _, (a0, a1) = attached
    env = dict(os.environ, EI_VISIBLE_DEVICES="1", PYTHONPATH=str(REPO / "python"))
    probe = ("import tether; s = tether.Session(%r, target='eia:0', quiet=True); print(s.where); "
             "print(len(tether.describe_accelerators()))" % str(mlp_path))
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    where, count = proc.stdout.strip().split("\n")
    assert a1["id"] in where and count == "1"


def test_server_prices_reach_bench_rows_and_advice(tmp_path, mlp_path):
    with tetherd(tmp_path, "--price", "cpu.small=0.025", slots="cpu.small=1") as server:
        a = tether.attach("cpu.small", server)
        proc = subprocess.run([str(cli_path()), "bench", str(mlp_path), "--target", f"eia:{a['ordinal']}",
                               "--host", "c5.large", "--runs", "5", "--warmup", "1", "--json"], capture_output=True,
                              text=True, timeout=300)
        tether.detach(a["ordinal"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (row,) = doc["rows"]
    assert row["price_per_hour"] == pytest.approx(0.085 + 0.025)
    assert row["price_source"] == "host: catalog, accelerator: server"
    assert row["batch"] == 1 and row["model"] == str(mlp_path)
    (tmp_path / "rows.json").write_text(proc.stdout)
    adv = subprocess.run([str(cli_path()), "advise", str(tmp_path / "rows.json"), "--json", "--no-svg"],
                         capture_output=True, text=True, timeout=60)
    rec = json.loads(adv.stdout)["recommended"]
    assert rec["price_per_hour"] == pytest.approx(0.11)
    assert rec["cost_per_100k"] == pytest.approx(0.11 * row["mean_ms"] / 36)
