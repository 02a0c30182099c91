"""A round trip through a real tetherd on loopback: attach from Python, run the same model
on the CPU and on the attached slot (bit-identical outputs), the Predictor on the
accelerator, a bench sweep over the slot types, advice from it, detach.

A missing tetherd binary is a failure, not a skip."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from conftest import run_json, tetherd

import tether


@pytest.fixture
def server(tmp_path):
    with tetherd(tmp_path) as endpoint:
        yield endpoint


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
