"""A round trip through a real tetherd on loopback: attach from Python, run the same model
on the CPU and on the attached slot (bit-identical outputs), the Predictor on the
accelerator, a bench sweep over the slot types, advice from it, detach.

Skipped only while there is no tetherd binary (the server is another part of the project);
once it is built, these run and must pass."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import numpy as np
import pytest

from conftest import run_json, tetherd_path

import tether

TETHERD = tetherd_path()
pytestmark = pytest.mark.skipif(TETHERD is None, reason="tetherd is not built (build/bin/tetherd): the server "
                                "work has not landed in this tree")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    state = tmp_path / "tetherd-state"
    state.mkdir()
    log = open(tmp_path / "tetherd.log", "w")
    proc = subprocess.Popen([str(TETHERD), "--listen", f"127.0.0.1:{port}", "--device", "cpu",
                             "--slots", "cpu.small=2,cpu.medium=1", "--state-dir", str(state)],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail("tetherd did not start listening:\n" + (tmp_path / "tetherd.log").read_text())
            time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def test_attach_run_detach_round_trip(server, mlp, mlp_path):
    assert tether.describe_accelerators() == []
    acc = tether.attach("cpu.small", server)
    assert acc["type"] == "cpu.small"
    ordinal = acc["ordinal"]
    listed = tether.describe_accelerators()
    assert [d["ordinal"] for d in listed] == [ordinal]

    x = np.random.default_rng(11).standard_normal((4, 16)).astype(np.float32)
    local = tether.Session(mlp_path, target="cpu", quiet=True).run({"x": x})["y"]
    with tether.Session(mlp_path, target=f"eia:{ordinal}", quiet=True) as remote:
        assert remote.where != "cpu" and "cpu.small" in remote.where
        y = remote.run({"x": x})["y"]
    np.testing.assert_array_equal(y, local)  # same backend: bit-identical
    np.testing.assert_allclose(y, mlp.reference(x), rtol=1e-5, atol=1e-5)

    p = tether.Predictor(mlp_path, input_names={"in": "x"}, output_names={"out": "y"}, accelerator_id=ordinal,
                         quiet=True)
    np.testing.assert_array_equal(p({"in": x})["out"], local)
    p.close()

    tether.detach(ordinal)
    assert tether.describe_accelerators() == []
    with pytest.raises(tether.TetherError):
        tether.Session(mlp_path, target=f"eia:{ordinal}", quiet=True)


def test_sweep_then_advise(server, mlp_path, tmp_path):
    doc, proc = run_json("bench", mlp_path, "--sweep", "--server", server, "--types", "cpu.small,cpu.medium",
                         "--runs", 20, "--json", "--host", "c5.large")
    assert proc.returncode == 0, proc.stderr
    assert [r["accelerator"] for r in doc["rows"]] == [None, "cpu.small", "cpu.medium"]
    assert doc["skipped"] == []
    assert tether.describe_accelerators() == []  # the sweep detached what it attached
    f = tmp_path / "sweep.json"
    f.write_text(json.dumps(doc))
    prices = tmp_path / "prices.csv"
    prices.write_text("name,price_per_hour\ncpu.small,0.05\ncpu.medium,0.1\n")
    advice, proc = run_json("advise", f, "--prices", prices, "--json", "--no-svg")
    assert proc.returncode == 0, proc.stderr
    assert len(advice["rows"]) == 3 and advice["recommended"] is not None
