"""tether bench: the statistics it prints against numpy on its own raw latencies, pricing,
inputs, errors, the progress bar only on a terminal, and --sweep reporting what it could
not attach."""

from __future__ import annotations

import json
import os
import pty
import subprocess

import numpy as np
import pytest
from onnx import TensorProto, helper

from conftest import cli_path, make_model, run_cli, run_json, save

import tether

ROW_KEYS = {"target", "host", "accelerator", "price_per_hour", "load_ms", "first_ms", "mean_ms", "p50_ms", "p90_ms",
            "p95_ms", "p99_ms", "min_ms", "max_ms", "throughput_per_s", "cost_per_100k", "memory_needed"}


def test_bench_json_statistics_match_numpy(mlp_path):
    doc, proc = run_json("bench", mlp_path, "--json", "--raw", "--runs", 60, "--warmup", 3)
    assert proc.returncode == 0, proc.stderr
    assert doc["runs"] == 60 and doc["warmup"] == 3 and doc["skipped"] == []
    (row,) = doc["rows"]
    assert ROW_KEYS <= set(row)
    lat = np.array(row["latencies_ms"])
    assert len(lat) == 60 and (lat > 0).all()
    assert row["mean_ms"] == pytest.approx(lat.mean(), rel=1e-9)
    assert row["stddev_ms"] == pytest.approx(lat.std(ddof=1), rel=1e-9)
    for q in (50, 90, 95, 99):
        assert row[f"p{q}_ms"] == pytest.approx(np.percentile(lat, q), rel=1e-9), q
    assert row["min_ms"] == lat.min() and row["max_ms"] == lat.max()
    # one thread: runs back to back, so throughput is bounded by the latencies' sum
    assert row["throughput_per_s"] == pytest.approx(60 / row["wall_s"], rel=1e-9)
    assert row["throughput_per_s"] <= 1000 / lat.mean() * 1.001
    assert row["first_ms"] > 0 and row["load_ms"] > 0
    assert row["target"] == "cpu" and row["accelerator"] is None
    # unpriced: this host was not named
    assert row["host"] == "local" and row["price_per_hour"] is None and row["cost_per_100k"] is None
    # weights of the MLP (16x32 + 32 + 32x4 floats) plus some activations
    assert row["memory_needed"] >= 4 * (16 * 32 + 32 + 32 * 4)


def test_bench_prices_a_named_host(mlp_path):
    doc, proc = run_json("bench", mlp_path, "--json", "--runs", 20, "--host", "c5.xlarge")
    assert proc.returncode == 0, proc.stderr
    (row,) = doc["rows"]
    assert row["price_per_hour"] == 0.17  # published c5.xlarge on-demand price
    assert row["cost_per_100k"] == pytest.approx(0.17 / 3600 * row["mean_ms"] / 1000 * 100_000, rel=1e-12)


def test_bench_concurrency_and_batch(mlp_path):
    doc, proc = run_json("bench", mlp_path, "--json", "--raw", "--runs", 40, "--concurrency", 3, "--batch", 4)
    assert proc.returncode == 0, proc.stderr
    (row,) = doc["rows"]
    assert doc["concurrency"] == 3 and doc["batch"] == 4
    assert len(row["latencies_ms"]) == 40
    assert row["samples_per_s"] == pytest.approx(4 * row["throughput_per_s"], rel=1e-12)


def test_bench_text_output(tmp_path, mlp_path):
    proc = run_cli("bench", mlp_path, "--runs", 10, "--host", "m5.large", "--output", tmp_path / "rows.json")
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((tmp_path / "rows.json").read_text())  # --output: the JSON too
    assert saved["rows"][0]["price_per_hour"] == 0.096
    assert f"{saved['rows'][0]['mean_ms']:10.3f}" in proc.stdout
    for word in ("first inference", "mean", "p50 / p90 / p95 / p99", "throughput", "per 100,000 inferences"):
        assert word in proc.stdout
    assert "\r" not in proc.stderr  # not a terminal: no progress bar


def test_bench_progress_bar_only_on_a_terminal(mlp_path):
    pid, fd = pty.fork()
    if pid == 0:  # child: stdout and stderr are the terminal
        os.execv(str(cli_path()), [str(cli_path()), "bench", str(mlp_path), "--runs", "3000", "--batch", "32"])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "3000/3000" in text and "[" + "#" * 30 + "]" in text


def test_bench_inputs_from_npy_and_dims(tmp_path, mlp_path):
    x = np.ones((7, 16), np.float32)
    np.save(tmp_path / "x.npy", x)
    doc, proc = run_json("bench", mlp_path, "--json", "--runs", 5, "--input", f"x={tmp_path / 'x.npy'}")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("bench", mlp_path, "--runs", 5, "--input", f"nope={tmp_path / 'x.npy'}")
    assert proc.returncode == 1 and "no input named 'nope'" in proc.stderr
    # a named symbolic dimension
    doc, proc = run_json("bench", mlp_path, "--json", "--runs", 5, "--dim", "N=3")
    assert proc.returncode == 0, proc.stderr


def test_bench_batch_on_a_fixed_model_is_refused(tmp_path):
    m = make_model([helper.make_node("Relu", ["x"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    path = save(m, tmp_path / "fixed.onnx")
    proc = run_cli("bench", path, "--batch", 4)
    assert proc.returncode == 1
    assert "fixed first dimension of 1" in proc.stderr


def test_bench_usage_errors(tmp_path, mlp_path):
    assert run_cli("bench", "--help").returncode == 0
    assert "--sweep" in run_cli("bench", "--help").stdout
    proc = run_cli("bench")
    assert proc.returncode == 2 and "no model given" in proc.stderr
    proc = run_cli("bench", mlp_path, "--runs", 0)
    assert proc.returncode == 2 and "--runs '0'" in proc.stderr
    proc = run_cli("bench", tmp_path / "missing.onnx")  # not a usage error: the file is missing
    assert proc.returncode == 1 and "missing.onnx" in proc.stderr
    proc = run_cli("bench", mlp_path, "--sweep")
    assert proc.returncode == 2 and "--server" in proc.stderr
    proc = run_cli("bench", mlp_path, "--sweep", "--target", "cpu", "--server", "x:1")
    assert proc.returncode == 2 and "no --target" in proc.stderr


def test_sweep_reports_types_it_could_not_attach(mlp_path):
    """Nothing listens on port 1: every type is skipped with the reason (until the attach
    work lands, the reason is that attaching is not implemented), the host CPU is still
    measured, and the exit status says the sweep did not do its job."""
    doc, proc = run_json("bench", mlp_path, "--sweep", "--server", "127.0.0.1:1", "--types", "eia2.medium,cpu.small",
                         "--runs", 5, "--json", "--host", "c5.large")
    assert proc.returncode == 1
    assert "no accelerator type could be measured" in proc.stderr
    assert [r["target"] for r in doc["rows"]] == ["cpu"]
    assert [s["accelerator"] for s in doc["skipped"]] == ["eia2.medium", "cpu.small"]
    for s in doc["skipped"]:
        assert s["error"].startswith("cannot attach: ") and len(s["error"]) > len("cannot attach: ")
    proc = run_cli("bench", mlp_path, "--sweep", "--server", "127.0.0.1:1", "--types", "eia2.medium", "--runs", 5)
    assert proc.returncode == 1
    assert "skipped eia2.medium: cannot attach" in proc.stdout
    assert "target" in proc.stdout and "$/100k" in proc.stdout


def test_python_bench_wrapper(mlp_path):
    doc = tether.bench(mlp_path, runs=10, warmup=1, host="c5.large")
    assert doc["rows"][0]["price_per_hour"] == 0.085
    with pytest.raises(tether.TetherError, match="missing.onnx"):
        tether.bench(mlp_path.parent / "missing.onnx", runs=1)
