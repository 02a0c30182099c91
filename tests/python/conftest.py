"""Shared pieces of the Python tests: the package under test, the `tether` command, and tiny
ONNX models built with onnx.helper in temporary directories.

The package is imported from python/ in this tree unless TETHER_TEST_INSTALLED=1 (then the
installed one is tested). The library and command come from TETHER_LIBRARY / TETHER_CLI,
else from build/ in this tree; a missing build is an error, not a skip."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
if os.environ.get("TETHER_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(REPO / "python"))

import tether  # noqa: E402


def cli_path() -> Path:
    p = Path(os.environ.get("TETHER_CLI", REPO / "build" / "bin" / "tether"))
    if not p.is_file():
        pytest.fail(f"the tether command is not built at {p}: run cmake --build build (or set TETHER_CLI)")
    return p


def tetherd_path() -> Path | None:
    p = Path(os.environ.get("TETHERD", REPO / "build" / "bin" / "tetherd"))
    return p if p.is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tetherd(tmp_path, *extra: str, slots: str = "cpu.small=2,cpu.medium=1"):
    """A tetherd on a free loopback port (its own state directory): yields "127.0.0.1:PORT",
    and stops it afterwards. A missing tetherd binary is an error, not a skip."""
    binary = tetherd_path()
    if binary is None:
        pytest.fail("tetherd is not built (build/bin/tetherd): run cmake --build build (or set TETHERD)")
    port = free_port()
    state = tmp_path / f"tetherd-state-{port}"
    state.mkdir()
    log_path = tmp_path / f"tetherd-{port}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([str(binary), "--listen", f"127.0.0.1:{port}", "--device", "cpu", "--slots", slots,
                             "--state-dir", str(state), *extra], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("tetherd did not start listening:\n" + log_path.read_text())
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Each test gets its own tether home, so no attachment of the machine's leaks in."""
    home = tmp_path / "tether-home"
    home.mkdir()
    monkeypatch.setenv("TETHER_HOME", str(home))
    monkeypatch.setenv("TETHER_CLI", str(cli_path()))
    monkeypatch.delenv("TETHER_HOST_TYPE", raising=False)
    monkeypatch.delenv("TETHER_SERVER", raising=False)
    return home


def run_cli(*args, input: str | None = None, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(cli_path()), *map(str, args)], input=input, capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def run_json(*args, **kw) -> tuple[dict, subprocess.CompletedProcess]:
    proc = run_cli(*args, **kw)
    try:
        return json.loads(proc.stdout), proc
    except json.JSONDecodeError:
        pytest.fail(f"tether {' '.join(map(str, args))} printed no JSON (rc {proc.returncode}):\n"
                    f"stdout: {proc.stdout}\nstderr: {proc.stderr}")


# ---- models -----------------------------------------------------------------------------------


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_model(nodes, inputs, outputs, initializers=(), opset=13) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


class MLP:
    """y = relu(x @ w1 + b1) @ w2 with x: float32[N, 16] (N symbolic)."""

    def __init__(self, seed: int = 0, din: int = 16, hidden: int = 32, dout: int = 4):
        rng = np.random.default_rng(seed)
        self.w1 = rng.standard_normal((din, hidden)).astype(np.float32)
        self.b1 = rng.standard_normal(hidden).astype(np.float32)
        self.w2 = rng.standard_normal((hidden, dout)).astype(np.float32)
        self.din, self.dout = din, dout

    def model(self) -> onnx.ModelProto:
        nodes = [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Add", ["h", "b1"], ["h2"]),
            helper.make_node("Relu", ["h2"], ["h3"]),
            helper.make_node("MatMul", ["h3", "w2"], ["y"]),
        ]
        return make_model(
            nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", self.din])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", self.dout])],
            [numpy_helper.from_array(self.w1, "w1"), numpy_helper.from_array(self.b1, "b1"),
             numpy_helper.from_array(self.w2, "w2")])

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x.astype(np.float32) @ self.w1 + self.b1, 0) @ self.w2


@pytest.fixture
def mlp():
    return MLP()


@pytest.fixture
def mlp_path(tmp_path, mlp) -> Path:
    return save(mlp.model(), tmp_path / "mlp.onnx")


def identity_model(elem_type: int, shape=("N", 3)) -> onnx.ModelProto:
    return make_model([helper.make_node("Identity", ["x"], ["y"])],
                      [helper.make_tensor_value_info("x", elem_type, list(shape))],
                      [helper.make_tensor_value_info("y", elem_type, list(shape))])
