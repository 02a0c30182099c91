"""tether.Session: results against numpy, every dtype through the binding, conversions,
errors carrying the library's message, ownership of outputs, threads and closing."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import onnx
from onnx import TensorProto, helper

from conftest import MLP, identity_model, make_model, save

import tether


def test_mlp_matches_numpy(mlp, mlp_path):
    x = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    with tether.Session(mlp_path, target="cpu", quiet=True) as s:
        out = s.run({"x": x})
    assert list(out) == ["y"]
    assert out["y"].shape == (5, 4) and out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], mlp.reference(x), rtol=1e-5, atol=1e-5)


def test_inputs_and_outputs_describe_the_model(mlp_path):
    s = tether.Session(str(mlp_path), quiet=True)
    (x,), (y,) = s.inputs, s.outputs
    assert (x.name, x.type, x.dtype, x.shape) == ("x", "float32", np.dtype(np.float32), ("N", 16))
    assert (y.name, y.type, y.shape) == ("y", "float32", ("N", 4))
    st = s.stats
    # weights: w1 16x32 + b1 32 + w2 32x4 float32
    assert st["weight_bytes"] == 4 * (16 * 32 + 32 + 32 * 4)
    assert st["parameters"] == 16 * 32 + 32 + 32 * 4
    assert st["nodes"] == 4
    assert st["where"].startswith("cpu")
    s.close()


def test_model_from_bytes(mlp):
    m = mlp.model()
    x = np.ones((2, 16), np.float32)
    s = tether.Session(m.SerializeToString(), quiet=True)
    np.testing.assert_allclose(s.run({"x": x})["y"], mlp.reference(x), rtol=1e-5, atol=1e-5)


NUMERIC = [
    (TensorProto.FLOAT, np.float32), (TensorProto.DOUBLE, np.float64), (TensorProto.FLOAT16, np.float16),
    (TensorProto.INT8, np.int8), (TensorProto.UINT8, np.uint8), (TensorProto.INT16, np.int16),
    (TensorProto.UINT16, np.uint16), (TensorProto.INT32, np.int32), (TensorProto.UINT32, np.uint32),
    (TensorProto.INT64, np.int64), (TensorProto.UINT64, np.uint64), (TensorProto.BOOL, np.bool_),
    (TensorProto.COMPLEX64, np.complex64), (TensorProto.COMPLEX128, np.complex128),
]


@pytest.mark.parametrize("onnx_type,np_type", NUMERIC, ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_numeric_dtype_round_trips(tmp_path, onnx_type, np_type):
    path = save(identity_model(onnx_type), tmp_path / "id.onnx")
    rng = np.random.default_rng(7)
    if np.dtype(np_type).kind == "b":
        x = rng.integers(0, 2, (4, 3)).astype(np_type)
    elif np.dtype(np_type).kind == "c":
        x = (rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))).astype(np_type)
    elif np.dtype(np_type).kind == "f":
        x = rng.standard_normal((4, 3)).astype(np_type)
    else:
        info = np.iinfo(np_type)
        x = rng.integers(info.min, info.max, (4, 3), dtype=np_type, endpoint=True)
    s = tether.Session(path, quiet=True)
    assert s.inputs[0].dtype == np.dtype(np_type)
    y = s.run({"x": x})["y"]
    assert y.dtype == np.dtype(np_type)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, x)


def test_string_tensors_round_trip(tmp_path):
    path = save(identity_model(TensorProto.STRING, (2, 2)), tmp_path / "s.onnx")
    s = tether.Session(path, quiet=True)
    x = np.array([["a", "héllo"], ["", "long " * 50]], dtype=object)
    y = s.run({"x": x})["y"]
    assert y.dtype == object and y.shape == (2, 2)
    assert y.tolist() == x.tolist()
    # bytes and numpy unicode arrays are accepted too
    assert s.run({"x": np.array([["p", "q"], ["r", "s"]])})["y"].tolist() == [["p", "q"], ["r", "s"]]
    assert s.run({"x": [[b"x", b"y"], [b"z", b"w"]]})["y"].tolist() == [["x", "y"], ["z", "w"]]


def test_bfloat16_comes_back_as_exact_float32(tmp_path):
    path = save(identity_model(TensorProto.BFLOAT16, (4,)), tmp_path / "bf.onnx")
    s = tether.Session(path, quiet=True)
    # exactly representable in bfloat16: returned unchanged
    x = np.array([1.0, -2.5, 0.15625, 3.0e38], np.float32)
    exact = (x.view(np.uint32) & 0xFFFF0000).view(np.float32)
    y = s.run({"x": exact})["y"]
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, exact)
    # 1 + 2^-8 lies halfway between two bfloat16 values: ties round to even (1.0)
    y = s.run({"x": np.array([1 + 2**-8, 1 + 3 * 2**-8, 0, 0], np.float32)})["y"]
    np.testing.assert_array_equal(y, np.array([1.0, 1 + 2**-6, 0, 0], np.float32))


def _small_model(tmp_path, in_type: int, to: int):
    """y = Cast(x, to) with x of (raw enum) type in_type, and z = Cast(y, float); onnx 1.12's
    helpers do not know the newest types, so the enum values are set directly."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])
    x.type.tensor_type.elem_type = in_type
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])
    y.type.tensor_type.elem_type = to
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [5])
    m = make_model([helper.make_node("Cast", ["x"], ["y"], to=to), helper.make_node("Cast", ["y"], ["z"], to=1)],
                   [x], [y, z], opset=21)
    m.ir_version = 10
    path = tmp_path / "small.onnx"
    onnx.save(m, str(path))  # not checked: onnx 1.12's checker predates these types
    return path


def test_small_types_through_the_binding(tmp_path):
    # float -> int4: out-of-range values give 0 (as ml_dtypes, whose values the ONNX suite holds)
    s = tether.Session(_small_model(tmp_path, TensorProto.FLOAT, 22), quiet=True)
    (y,) = [o for o in s.outputs if o.name == "y"]
    assert y.type == "int4"
    out = s.run({"x": np.array([-8, 7, -1, 9, 2.7], np.float32)})
    np.testing.assert_array_equal(out["z"], [-8, 7, -1, 0, 2])
    if tether._dtypes.ml_dtypes is None:  # widened: int8
        assert out["y"].dtype == np.int8
    assert out["y"].astype(np.int64).tolist() == [-8, 7, -1, 0, 2]
    # float8e4m3fn in: values through ml_dtypes when installed, else uint8 bit patterns
    s = tether.Session(_small_model(tmp_path, 17, 17), quiet=True)
    bits = np.array([0x38, 0xb8, 0x7e, 0x7f, 0x00], np.uint8)  # 1, -1, 448, NaN, 0
    if tether._dtypes.ml_dtypes is None:
        z = s.run({"x": bits})["z"]
        assert out["y"].dtype == np.int8
        with pytest.raises(tether.InvalidArgumentError, match="float8e4m3fn"):
            s.run({"x": np.zeros(5, np.float32)})
    else:
        z = s.run({"x": bits.view(tether._dtypes.TO_NUMPY[17])})["z"]
    np.testing.assert_array_equal(z[[0, 1, 2, 4]], [1, -1, 448, 0])
    assert np.isnan(z[3])
    # int4 in from plain integers, range-checked
    s = tether.Session(_small_model(tmp_path, 22, 3), quiet=True)
    assert s.run({"x": np.array([-8, -1, 0, 3, 7], np.int64)})["z"].tolist() == [-8, -1, 0, 3, 7]
    with pytest.raises(tether.InvalidArgumentError, match=r"\[-8, 7\]"):
        s.run({"x": np.array([8, 0, 0, 0, 0])})


def test_small_types_decode_without_ml_dtypes():
    from tether import _dtypes as dt
    codes = np.arange(256, dtype=np.uint8)
    e4 = dt.decode_small(dt.FLOAT8E4M3FN, codes)
    assert e4[0x7e] == 448 and e4[0x01] == 2.0 ** -9 and np.isnan(e4[0x7f]) and e4[0x80] == 0
    e5 = dt.decode_small(dt.FLOAT8E5M2, codes)
    assert e5[0x7b] == 57344 and np.isinf(e5[0x7c]) and np.isnan(e5[0x7d])
    assert np.isnan(dt.decode_small(dt.FLOAT8E5M2FNUZ, codes)[0x80])
    f4 = dt.decode_small(dt.FLOAT4E2M1, codes[:16])
    assert f4.tolist() == [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6]
    assert dt.decode_small(dt.INT2, codes[:4]).tolist() == [0, 1, -2, -1]
    assert dt.decode_small(dt.FLOAT8E8M0, np.array([127, 130, 255], np.uint8))[:2].tolist() == [1, 8]


def test_exact_conversions_and_refusals(mlp, mlp_path):
    s = tether.Session(mlp_path, quiet=True)
    # float64 values that float32 holds exactly are converted
    x64 = np.random.default_rng(2).standard_normal((3, 16)).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(s.run({"x": x64})["y"], mlp.reference(x64.astype(np.float32)), rtol=1e-5, atol=1e-5)
    lst = [[0.5] * 16]
    np.testing.assert_allclose(s.run({"x": lst})["y"], mlp.reference(np.array(lst, np.float32)), rtol=1e-5,
                               atol=1e-5)
    # ones that would round are refused, naming the value and how to convert on purpose
    with pytest.raises(tether.InvalidArgumentError, match=r"float64 value 0\.1 at index \(0, 0\).*astype"):
        s.run({"x": np.full((1, 16), 0.1)})
    with pytest.raises(tether.InvalidArgumentError, match="not exactly representable as float32"):
        s.run({"x": np.ones((1, 16), np.complex128) * 1j})
    np.testing.assert_allclose(s.run({"x": np.ones((1, 16), np.complex128)})["y"], mlp.reference(np.ones((1, 16))),
                               rtol=1e-5, atol=1e-5)  # no imaginary part: exact
    with pytest.raises(tether.InvalidArgumentError, match="a <U1 array cannot be converted"):
        s.run({"x": np.array([["a"] * 16])})


@pytest.mark.parametrize("model_type,value,np_type,ok", [
    (TensorProto.INT32, 3_000_000_000, np.int64, False),       # would wrap to -1,294,967,296
    (TensorProto.INT32, -2_147_483_648, np.int64, True),
    (TensorProto.INT32, 2_147_483_647, np.int64, True),
    (TensorProto.FLOAT16, 1e6, np.float64, False),             # would overflow to inf
    (TensorProto.FLOAT16, 65504.0, np.float64, True),
    (TensorProto.FLOAT16, 0.1, np.float64, False),             # would round
    (TensorProto.INT8, 200, np.int64, False),
    (TensorProto.UINT8, -1, np.int64, False),
    (TensorProto.UINT8, -1, np.int8, False),                   # same size: round-trips, but wrapped
    (TensorProto.UINT8, 255, np.int32, True),
    (TensorProto.INT64, 2.0**63, np.float64, False),
    (TensorProto.INT64, -2.0**63, np.float64, True),
    (TensorProto.INT64, 2.5, np.float64, False),
    (TensorProto.INT64, float("nan"), np.float64, False),
    (TensorProto.FLOAT, 2**24 + 1, np.int64, False),            # float32 holds 2^24, not 2^24 + 1
    (TensorProto.FLOAT, 2**24, np.int64, True),
    (TensorProto.DOUBLE, 2**53 + 1, np.int64, False),
    (TensorProto.FLOAT, float("nan"), np.float64, True),       # NaN stays NaN
    (TensorProto.FLOAT, float("-inf"), np.float64, True),
    (TensorProto.BOOL, 2, np.int64, False),
    (TensorProto.BOOL, 1, np.int64, True),
    (TensorProto.UINT64, 2**64 - 1, np.uint64, True),
    (TensorProto.INT64, 2**64 - 1, np.uint64, False),
])
def test_inputs_are_never_silently_narrowed(tmp_path, model_type, value, np_type, ok):
    path = save(identity_model(model_type, (2,)), tmp_path / "id.onnx")
    s = tether.Session(path, quiet=True)
    x = np.array([0, value], dtype=np_type)
    if ok:
        y = s.run({"x": x})["y"]
        want = x.astype(s.inputs[0].dtype)
        assert np.array_equal(y, want, equal_nan=True)
        assert y[1] == value or (value != value and y[1] != y[1])
    else:
        with pytest.raises(tether.InvalidArgumentError, match=r"not exactly representable as|cannot be converted"):
            s.run({"x": x})


def test_non_contiguous_and_big_endian_inputs(mlp, mlp_path):
    s = tether.Session(mlp_path, quiet=True)
    base = np.random.default_rng(3).standard_normal((16, 6)).astype(np.float32)
    xt = base.T  # (6, 16), Fortran order
    assert not xt.flags.c_contiguous
    np.testing.assert_allclose(s.run({"x": xt})["y"], mlp.reference(np.ascontiguousarray(xt)), rtol=1e-5, atol=1e-5)
    xbe = np.ascontiguousarray(xt).astype(">f4")
    np.testing.assert_allclose(s.run({"x": xbe})["y"], mlp.reference(xt), rtol=1e-5, atol=1e-5)


def test_empty_batch(mlp_path):
    s = tether.Session(mlp_path, quiet=True)
    y = s.run({"x": np.zeros((0, 16), np.float32)})["y"]
    assert y.shape == (0, 4)


def test_errors_carry_the_library_message(tmp_path, mlp_path):
    with pytest.raises(tether.TetherError) as e:
        tether.Session(tmp_path / "missing.onnx", quiet=True)
    assert "missing.onnx" in str(e.value)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0f garbage")
    with pytest.raises(tether.InvalidModelError) as e:
        tether.Session(bad, quiet=True)
    assert e.value.status == 2 and e.value.status_name == "TETHER_ERR_INVALID_MODEL"
    assert e.value.message

    s = tether.Session(mlp_path, quiet=True)
    with pytest.raises(tether.ShapeError, match="input 'x'.*16"):
        s.run({"x": np.ones((2, 15), np.float32)})
    with pytest.raises(tether.InvalidArgumentError, match="no input 'z'.*x"):
        s.run({"z": np.ones((2, 16), np.float32)})
    with pytest.raises(tether.TetherError, match="x"):
        s.run({})  # a missing input is named
    with pytest.raises(tether.InvalidArgumentError, match="no output 'nope'"):
        s.run({"x": np.ones((1, 16), np.float32)}, output_names=["nope"])


def test_unattached_accelerator_is_an_error_naming_it(mlp_path):
    with pytest.raises(tether.TetherError, match="eia:7"):
        tether.Session(mlp_path, target="eia:7", quiet=True)


def test_precision_needs_a_gpu_target_and_stats_count_device_bytes(mlp_path):
    with pytest.raises(tether.TetherError, match="precision fp16 needs a device target"):
        tether.Session(mlp_path, quiet=True, precision="fp16")
    s = tether.Session(mlp_path, quiet=True, precision="fp32")
    assert s.stats["device_bytes"] == 0  # the CPU holds no device memory


def test_gpu_target_without_a_gpu_says_why(mlp_path):
    try:
        tether.Session(mlp_path, target="cuda:0", quiet=True)
    except tether.TetherError as e:
        assert "cuda:0" in str(e) and "unavailable" in str(e)
    else:
        pytest.skip("a GPU is here: the refusal cannot be seen")


def test_outputs_are_owned_by_the_caller(mlp, mlp_path):
    s = tether.Session(mlp_path, quiet=True)
    x1 = np.ones((2, 16), np.float32)
    y1 = s.run({"x": x1})["y"]
    keep = y1.copy()
    assert y1.flags.owndata and y1.flags.writeable
    y2 = s.run({"x": -x1})["y"]  # a second run must not write into the first result
    s.close()
    del s
    np.testing.assert_array_equal(y1, keep)  # still valid after the session is gone
    y1[...] = 0  # and ours to change
    np.testing.assert_allclose(y2, MLP().reference(-x1), rtol=1e-5, atol=1e-5)


def test_runs_from_many_threads(mlp, mlp_path):
    s = tether.Session(mlp_path, quiet=True)
    errors, results = [], {}

    def work(k):
        try:
            x = np.full((k + 1, 16), k / 10, np.float32)
            for _ in range(20):
                y = s.run({"x": x})["y"]
            results[k] = (x, y)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for x, y in results.values():
        np.testing.assert_allclose(y, mlp.reference(x), rtol=1e-5, atol=1e-5)


def test_closed_session_refuses_to_run(mlp_path):
    s = tether.Session(mlp_path, quiet=True)
    s.close()
    s.close()  # idempotent
    with pytest.raises(tether.InvalidArgumentError, match="closed"):
        s.run({"x": np.ones((1, 16), np.float32)})


def test_two_inputs_by_name(tmp_path):
    m = make_model([helper.make_node("Sub", ["a", "b"], ["d"])],
                   [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3]),
                    helper.make_tensor_value_info("b", TensorProto.FLOAT, [3])],
                   [helper.make_tensor_value_info("d", TensorProto.FLOAT, [3])])
    s = tether.Session(save(m, tmp_path / "sub.onnx"), quiet=True)
    a, b = np.array([5, 6, 7], np.float32), np.array([1, 2, 4], np.float32)
    np.testing.assert_array_equal(s.run({"b": b, "a": a})["d"], a - b)  # order of the dict does not matter
