"""tetherd's refusals reach Python as the exception class of their status, whichever way they
come: through the `tether` command (attach, detach, describe, bench) or through a Session
(open, run). A plain TetherError would leave a program to parse messages."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import make_model, save, tetherd

import tether


@pytest.fixture
def server(tmp_path):
    # one small slot, one 1 MiB slot, and runs stopped after one second
    with tetherd(tmp_path, "--type", "tiny=1MiB,5%", "--run-limit", "1", slots="cpu.small=1,tiny=1") as endpoint:
        yield endpoint


def long_model(path):
    """y = ReduceSum(MatMul(a, a)), a = ConstantOfShape(shape): one long node from 16 bytes."""
    one = numpy_helper.from_array(np.ones(1, np.float32), "value")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["a"], value=one),
             helper.make_node("MatMul", ["a", "a"], ["p"]),
             helper.make_node("ReduceSum", ["p"], ["y"], keepdims=0)]
    return save(make_model(nodes, [helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])]), path)


def big_model(path):
    """2 MiB of weights: more than the tiny slot holds."""
    w = numpy_helper.from_array(np.ones((512, 1024), np.float32), "w")
    return save(make_model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                           [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 512])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1024])], [w]), path)


def test_cli_refusals_raise_their_classes(server):
    small = tether.attach("cpu.small", server)
    with pytest.raises(tether.BusyError, match="attached") as e:  # the one cpu.small slot is taken
        tether.attach("cpu.small", server)
    assert e.value.status_name == "TETHER_ERR_BUSY"
    with pytest.raises(tether.NotFoundError, match="no-such-type"):
        tether.attach("no-such-type", server)
    with pytest.raises(tether.NotFoundError, match="eia:7"):
        tether.detach(7)
    with pytest.raises(tether.InvalidArgumentError):  # a usage error of the command
        tether.detach(-1)
    with pytest.raises(tether.NetworkError):
        tether.attach("cpu.small", "127.0.0.1:1")
    tether.detach(small["ordinal"])


def test_session_refusals_raise_their_classes(server, tmp_path):
    tiny = tether.attach("tiny", server)
    with pytest.raises(tether.QuotaError, match="quota"):
        tether.Session(big_model(tmp_path / "big.onnx"), target=f"eia:{tiny['ordinal']}", quiet=True)
    small = tether.attach("cpu.small", server)
    s = tether.Session(long_model(tmp_path / "long.onnx"), target=f"eia:{small['ordinal']}", quiet=True)
    with pytest.raises(tether.TetherTimeoutError, match="time limit") as e:
        s.run({"shape": np.array([4096, 4096], np.int64)})
    assert isinstance(e.value, TimeoutError)
    s.close()
    tether.detach(small["ordinal"])
    tether.detach(tiny["ordinal"])
    with pytest.raises(tether.NotFoundError):
        tether.Session(long_model(tmp_path / "again.onnx"), target=f"eia:{small['ordinal']}", quiet=True)
