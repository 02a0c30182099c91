#!/usr/bin/python3
"""KServe's reference clients against tetherd: Triton's Python client (tritonclient.http)
runs health, metadata, repository and inference calls, JSON and binary, and perf_analyzer
runs a short concurrency sweep. They come from the peers' venv that `scripts/deps.sh --peers`
makes (PyPI); where it is absent the tests skip and say so.

usage: test_tritonclient.py   (TETHERD and TETHER_CLI in the environment)"""
import os, subprocess, sys

PEERS = os.environ.get("TETHER_PEERS_DIR", os.path.expanduser("~/.cache/tether-peers"))
VENV_PY = os.path.join(PEERS, "venv", "bin", "python")

try:
    import tritonclient.http  # noqa: F401
except ImportError:
    # the clients live in the peers' venv: run this file with its python when there is one
    if os.path.exists(VENV_PY) and os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(PEERS, "venv")) and \
            subprocess.run([VENV_PY, "-c", "import tritonclient.http"], capture_output=True).returncode == 0:
        os.execv(VENV_PY, [VENV_PY] + sys.argv)

import numpy as np

import serving_util as su
from serving_util import Server, Skip


def client_or_skip():
    try:
        import tritonclient.http as httpclient
        return httpclient
    except ImportError as e:
        raise Skip("tritonclient is not installed (%s): scripts/deps.sh --peers installs it from PyPI" % e)


def test_tritonclient_http(d):
    httpclient = client_or_skip()
    su.onnx_or_skip()
    repo = os.path.join(d, "repo")
    su.add_model(repo, "dense", 1, su.dense_model, "max_batch_size = 8\nmax_queue_delay_us = 1000\n")
    su.add_model(repo, "multi", 1, su.multi_model)
    s = Server(d, repo)
    try:
        c = httpclient.InferenceServerClient(url="127.0.0.1:%d" % s.port)
        assert c.is_server_live() and c.is_server_ready()
        assert c.is_model_ready("dense") and not c.is_model_ready("nosuch")
        meta = c.get_model_metadata("dense")
        assert meta["inputs"][0]["shape"] == [-1, 16], meta
        assert c.get_model_config("dense")["max_batch_size"] == 8
        assert {m["name"] for m in c.get_model_repository_index()} == {"dense", "multi"}
        x = np.random.default_rng(3).standard_normal((4, 16)).astype(np.float32)
        want = su.local_run(os.path.join(repo, "dense/1/model.onnx"), {"x": x}, d)["y"]
        for binary_in in (False, True):
            for binary_out in (False, True):
                inp = httpclient.InferInput("x", list(x.shape), "FP32")
                inp.set_data_from_numpy(x, binary_data=binary_in)
                out = httpclient.InferRequestedOutput("y", binary_data=binary_out)
                r = c.infer("dense", [inp], outputs=[out], request_id="r1")
                su.same_bytes(r.as_numpy("y"), want, "tritonclient binary_in=%s binary_out=%s" % (binary_in,
                                                                                                 binary_out))
        a = np.ones((2, 4), np.float32)
        ids = np.array([[1, 2, 3], [4, 5, 6]], np.int64)
        ins = [httpclient.InferInput("a", [2, 4], "FP32"), httpclient.InferInput("b", [2, 4], "FP32"),
               httpclient.InferInput("ids", [2, 3], "INT64")]
        ins[0].set_data_from_numpy(a)
        ins[1].set_data_from_numpy(a * 2, binary_data=False)
        ins[2].set_data_from_numpy(ids)
        r = c.infer("multi", ins)
        assert (r.as_numpy("s") == 3).all() and (r.as_numpy("n") == ids * 2).all()
        try:
            c.infer("dense", [httpclient.InferInput("x", [1, 5], "FP32")])
            raise AssertionError("a wrong shape was accepted")
        except Exception as e:  # InferenceServerException carries the server's message
            assert "dimension 1 must be 16" in str(e) or "data" in str(e), e
        c.unload_model("multi")
        assert not c.is_model_ready("multi")
        c.load_model("multi")
        assert c.is_model_ready("multi")
        c.close()
        s.stop()
    except BaseException:
        print(open(s.log).read()[-3000:])
        s.kill()
        raise


def test_perf_analyzer_sweep(d):
    pa = os.path.join(PEERS, "bin", "perf_analyzer")
    if not os.access(pa, os.X_OK):
        raise Skip("perf_analyzer is not installed (%s): scripts/deps.sh --peers installs it" % pa)
    su.onnx_or_skip()
    repo = os.path.join(d, "repo")
    su.add_model(repo, "dense", 1, su.dense_model, "max_batch_size = 8\nmax_queue_delay_us = 500\n")
    s = Server(d, repo)
    try:
        r = subprocess.run([pa, "-m", "dense", "-u", "127.0.0.1:%d" % s.port, "-i", "http", "--concurrency-range",
                            "1:4:3", "--measurement-interval", "500", "-b", "2", "--max-trials", "8",
                            "--stability-percentage", "100"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        lines = [l for l in r.stdout.splitlines() if l.startswith("Concurrency:")]
        assert len(lines) == 2, r.stdout[-2000:]
        for l in lines:
            tput = float(l.split("throughput:")[1].split()[0])
            assert tput > 0, l
        m = s.metrics()
        assert su.metric(m, 'tetherd_model_requests_total{model="dense",version="1",code="200"}') > 10
        assert su.metric(m, 'tetherd_model_batch_size_sum{model="dense",version="1"}') >= 20
        s.stop()
    except BaseException:
        print(open(s.log).read()[-3000:])
        s.kill()
        raise


if __name__ == "__main__":
    su.run_tests([test_tritonclient_http, test_perf_analyzer_sweep])
