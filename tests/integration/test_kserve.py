#!/usr/bin/python3
"""KServe v2 over HTTP, driven with the standard library (and curl where it is at hand)
against a real tetherd and its model repository: every endpoint, JSON and binary inference
byte for byte equal to a local run of the tether CLI, dynamic batching over HTTP, API keys,
hostile bodies, and load/unload while requests are in flight.

usage: test_kserve.py [TEST_NAME_PART ...]   (TETHERD and TETHER_CLI in the environment)"""
import concurrent.futures as cf
import hashlib, json, os, shutil, socket, subprocess, threading, time

import numpy as np

import serving_util as su
from serving_util import Server, Skip


def repo_with_dense(d, config="max_batch_size = 8\nmax_queue_delay_us = 5000\n"):
    su.onnx_or_skip()
    repo = os.path.join(d, "repo")
    su.add_model(repo, "dense", 1, su.dense_model, config)
    return repo


def serve(d, repo, **kw):
    return Server(d, repo, **kw)


class running:
    """with running(server) as s: ... — stopped cleanly after, killed on a failure."""

    def __init__(self, s):
        self.s = s

    def __enter__(self):
        return self.s

    def __exit__(self, et, ev, tb):
        if et is None:
            self.s.stop()
        else:
            print(open(self.s.log).read()[-4000:])
            self.s.kill()
        return False


# ---- endpoints ----------------------------------------------------------------------------

def test_server_health_and_metadata(d):
    repo = repo_with_dense(d)
    su.add_model(repo, "multi", 3, su.multi_model)
    with running(serve(d, repo)) as s:
        meta = s.json("GET", "/v2")
        assert meta["name"] == "tetherd" and "binary_tensor_data" in meta["extensions"], meta
        assert s.json("GET", "/v2/health/live") == {"live": True}
        assert s.json("GET", "/v2/health/ready") == {"ready": True}
        m = s.json("GET", "/v2/models/dense")
        assert m["name"] == "dense" and m["versions"] == ["1"] and m["platform"] == "onnx", m
        assert m["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 16]}], m["inputs"]
        assert m["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 8]}], m["outputs"]
        assert m["parameters"]["max_batch_size"] == 8
        mm = s.json("GET", "/v2/models/multi/versions/3")
        assert [i["datatype"] for i in mm["inputs"]] == ["FP32", "FP32", "INT64"], mm
        assert s.json("GET", "/v2/models/dense/ready") == {"name": "dense", "ready": True}
        assert s.json("GET", "/v2/models/multi/versions/3/ready")["ready"] is True
        err = s.json("GET", "/v2/models/multi/versions/2", expect=404)
        assert "no version 2" in err["error"], err
        err = s.json("GET", "/v2/models/nosuch/ready", expect=404)
        assert err["error"].startswith("unknown model 'nosuch'"), err
        err = s.json("DELETE", "/v2/models/dense", expect=404)
        assert "no such endpoint" in err["error"], err
        idx = s.json("POST", "/v2/repository/index")
        assert sorted((e["name"], e["state"]) for e in idx) == [("dense", "READY"), ("multi", "READY")], idx
        # curl, as a user would
        if shutil.which("curl"):
            r = subprocess.run(["curl", "-sf", "http://127.0.0.1:%d/v2/models/dense" % s.port], capture_output=True,
                               timeout=30)
            assert json.loads(r.stdout)["name"] == "dense"


def test_json_and_binary_inference_equal_a_local_run(d):
    repo = repo_with_dense(d)
    su.add_model(repo, "multi", 1, su.multi_model)
    rng = np.random.default_rng(1)
    with running(serve(d, repo)) as s:
        x = rng.standard_normal((3, 16)).astype(np.float32)
        want = su.local_run(os.path.join(repo, "dense/1/model.onnx"), {"x": x}, d)["y"]
        # JSON in, JSON out: %.9g round-trips float32 exactly
        body, h = su.infer_json({"x": x})
        st, hd, b = s.request("POST", "/v2/models/dense/infer", body, h)
        assert st == 200, b
        doc, out = su.parse_infer(hd, b)
        assert doc["model_name"] == "dense" and doc["model_version"] == "1"
        su.same_bytes(out["y"].astype(np.float32), want, "JSON output")
        # binary in, binary out
        body, h = su.infer_binary({"x": x})
        st, hd, b = s.request("POST", "/v2/models/dense/versions/1/infer", body, h)
        assert st == 200 and "Inference-Header-Content-Length" in hd, (st, hd)
        doc, out = su.parse_infer(hd, b)
        su.same_bytes(out["y"], want, "binary output")
        # JSON in, one output asked for binary, with an id and the request's parameters
        body = json.dumps({"id": "req-7", "parameters": {"sequence": 1},
                           "inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 16],
                                       "data": x.tolist()}],  # nested, as clients may send
                           "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
        st, hd, b = s.request("POST", "/v2/models/dense/infer", body)
        assert st == 200, b
        doc, out = su.parse_infer(hd, b)
        assert doc["id"] == "req-7"
        su.same_bytes(out["y"], want, "binary output of a JSON request")
        # several inputs and dtypes, mixed binary and JSON inputs
        a = rng.standard_normal((2, 4)).astype(np.float32)
        bb = rng.standard_normal((2, 4)).astype(np.float32)
        ids = np.array([[1, -2, 3], [2 ** 40, 5, -(2 ** 45)]], dtype=np.int64)
        hdr = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [2, 4], "parameters": {"binary_data_size": 32}},
                          {"name": "b", "datatype": "FP32", "shape": [2, 4], "data": bb.flatten().tolist()},
                          {"name": "ids", "datatype": "INT64", "shape": [2, 3], "parameters": {"binary_data_size": 48}}]}
        j = json.dumps(hdr).encode()
        st, hd, b = s.request("POST", "/v2/models/multi/infer", j + a.tobytes() + ids.tobytes(),
                              {"Inference-Header-Content-Length": str(len(j))})
        assert st == 200, b
        _, out = su.parse_infer(hd, b)
        want = su.local_run(os.path.join(repo, "multi/1/model.onnx"), {"a": a, "b": bb, "ids": ids}, d)
        su.same_bytes(out["s"].astype(np.float32), want["s"], "multi s")
        su.same_bytes(out["n"], want["n"], "multi n")


def test_http_batching_is_bit_identical(d):
    repo = repo_with_dense(d, "max_batch_size = 16\nmax_queue_delay_us = 20000\n")
    model = os.path.join(repo, "dense/1/model.onnx")
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((1 + i % 3, 16)).astype(np.float32) for i in range(24)]
    # the reference: each request alone on this host
    allx = np.concatenate(xs)
    with running(serve(d, repo)) as s:
        def one(i):
            body, h = su.infer_binary({"x": xs[i]})
            st, hd, b = s.request("POST", "/v2/models/dense/infer", body, h)
            assert st == 200, b
            return su.parse_infer(hd, b)[1]["y"]

        with cf.ThreadPoolExecutor(8) as ex:
            got = list(ex.map(one, range(len(xs))))
        for i, x in enumerate(xs):
            want = su.local_run(model, {"x": x}, d)["y"]
            su.same_bytes(got[i], want, "request %d" % i)
        m = s.metrics()
        runs = su.metric(m, 'tetherd_model_batch_size_count{model="dense",version="1"}')
        rows = su.metric(m, 'tetherd_model_batch_size_sum{model="dense",version="1"}')
        assert rows == len(allx), (rows, len(allx))
        assert 1 <= runs < len(xs) * 0.75, "%d runs for %d requests: not batched" % (runs, len(xs))
        assert su.metric(m, 'tetherd_model_requests_total{model="dense",version="1",code="200"}') == len(xs)
        for h in ("queue", "compute", "request"):
            assert su.metric(m, 'tetherd_model_%s_seconds_count{model="dense",version="1"}' % h) == len(xs), h
        assert 'tetherd_model_request_seconds_bucket{model="dense",version="1",le="+Inf"} %d' % len(xs) in m


# ---- auth -------------------------------------------------------------------------------

def test_api_keys(d):
    repo = repo_with_dense(d)
    model_key, tenant_key = "model-key-123", "tenant-key-456"
    with open(os.path.join(repo, "dense", "config"), "a") as f:
        f.write("api_key_sha256 = %s\n" % hashlib.sha256(model_key.encode()).hexdigest())
    su.add_model(repo, "open", 1, su.dense_model)
    keys = os.path.join(d, "keys")
    with open(keys, "w") as f:
        f.write("# tenant sha256\nacme %s\n" % hashlib.sha256(tenant_key.encode()).hexdigest())
    x = np.ones((1, 16), np.float32)
    body, h = su.infer_json({"x": x})
    with running(serve(d, repo, args=["--api-keys", keys])) as s:
        assert s.request("GET", "/v2/health/live")[0] == 200
        assert s.request("GET", "/v2/health/ready")[0] == 200
        for path in ("/v2", "/v2/models/dense", "/metrics", "/"):
            st, hd, b = s.request("GET", path)
            assert st == 401, (path, st)
        st, hd, b = s.request("GET", "/")
        assert hd.get("WWW-Authenticate", "").startswith("Basic"), hd
        st, _, b = s.request("POST", "/v2/models/dense/infer", body, h)
        assert st == 401 and "requires an API key" in json.loads(b)["error"], b
        bad = dict(h, Authorization="Bearer wrong")
        st, _, b = s.request("POST", "/v2/models/dense/infer", body, bad)
        assert st == 401 and "not valid for model 'dense'" in json.loads(b)["error"], b
        mk = dict(h, Authorization="Bearer " + model_key)
        assert s.request("POST", "/v2/models/dense/infer", body, mk)[0] == 200
        # a model's key is for that model only, and not for the server's endpoints
        assert s.request("POST", "/v2/models/open/infer", body, mk)[0] == 401
        assert s.request("POST", "/v2/repository/index", None, mk)[0] == 401
        tk = dict(h, Authorization="Bearer " + tenant_key)
        assert s.request("POST", "/v2/models/dense/infer", body, tk)[0] == 200
        assert s.request("POST", "/v2/models/open/infer", body, tk)[0] == 200
        assert s.request("GET", "/metrics", None, tk)[0] == 200
        import base64
        basic = {"Authorization": "Basic " + base64.b64encode(b"me:" + tenant_key.encode()).decode()}
        st, _, b = s.request("GET", "/", None, basic)
        assert st == 200 and b.startswith(b"<!doctype html>"), st
        m = s.metrics(tk)
        assert su.metric(m, 'tetherd_model_requests_total{model="dense",version="1",code="401"}') == 2, m


# ---- hostile requests --------------------------------------------------------------------

def raw(port, data, read=True, timeout=10):
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            c.sendall(data)
            if not read:
                return b""
            c.shutdown(socket.SHUT_WR)
        except OSError:  # the server may close a hostile connection before it was all sent
            pass
        out = b""
        while True:
            try:
                k = c.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not k:
                break
            out += k
        return out
    finally:
        c.close()


def test_hostile_bodies(d):
    repo = repo_with_dense(d)
    su.add_model(repo, "multi", 1, su.multi_model)
    x = np.ones((2, 16), np.float32)
    with running(serve(d, repo, args=["--http-max-body", "1MiB", "--max-buffered", "512KiB"])) as s:
        def err(body, headers=None, path="/v2/models/dense/infer", code=400):
            st, _, b = s.request("POST", path, body, headers or {})
            assert st == code, (st, b[:300])
            return json.loads(b)["error"]

        assert "not valid JSON" in err(b'{"inputs": [')
        assert "not valid JSON" in err(b"\xff\xfe garbage")
        assert "is empty" in err(b"")
        assert "not a JSON object" in err(b"[1,2]")
        assert "nested deeper than 32" in err(b"[" * 100000 + b"]" * 100000)
        assert "nested deeper than 32" in err(b'{"inputs":' + b"[" * 40 + b"]" * 40 + b"}")
        assert "no \"inputs\" array" in err(b'{"outputs": []}')
        inp = {"name": "x", "datatype": "FP32", "shape": [2, 16], "data": [1.0] * 32}
        assert "must be float32, got int64" in err(json.dumps({"inputs": [dict(inp, datatype="INT64",
                                                                               data=[1] * 32)]}).encode())
        assert "unknown datatype 'FLOAT'" in err(json.dumps({"inputs": [dict(inp, datatype="FLOAT")]}).encode())
        assert "dimension 1 must be 16" in err(json.dumps({"inputs": [dict(inp, shape=[4, 8])]}).encode())
        assert "rank 2" in err(json.dumps({"inputs": [dict(inp, shape=[32])]}).encode())
        assert "32 data values for a shape of 48" in err(json.dumps({"inputs": [dict(inp, shape=[3, 16])]}).encode())
        assert "more data values" in err(json.dumps({"inputs": [dict(inp, shape=[1, 16])]}).encode())
        assert "not a number" in err(json.dumps({"inputs": [dict(inp, data=["a"] * 32)]}).encode())
        assert "over its max_batch_size of 8" in err(json.dumps({"inputs": [dict(inp, shape=[9, 16],
                                                                                  data=[0.0] * 144)]}).encode())
        assert "over the 1048576-byte limit" in err(json.dumps({"inputs": [dict(inp, shape=[1 << 30, 16],
                                                                                 data=[])]}).encode())
        assert "overflows" in err(json.dumps({"inputs": [dict(inp, shape=[10 ** 15, 10 ** 15, 10 ** 15],
                                                              data=[])]}).encode())
        assert "input 'x' is given twice" in err(json.dumps({"inputs": [inp, inp]}).encode())
        assert "has no output 'z'" in err(json.dumps({"inputs": [inp], "outputs": [{"name": "z"}]}).encode())
        assert "input 'b' is missing" in err(json.dumps({"inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [0] * 4},
            {"name": "ids", "datatype": "INT64", "shape": [1, 3], "data": [0] * 3}]}).encode(),
            path="/v2/models/multi/infer")
        assert "not a INT64 value JSON carries exactly" in err(json.dumps({"inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [0] * 4},
            {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": [0] * 4},
            {"name": "ids", "datatype": "INT64", "shape": [1, 3], "data": [0, 1, 2.0 ** 60]}]}).encode(),
            path="/v2/models/multi/infer")
        # binary section: sizes that lie, a header length past the body, bytes left over
        body, h = su.infer_binary({"x": x})
        assert "only 64 left" in err(body[:-64], h)
        assert "not a length within" in err(body, dict(h, **{"Inference-Header-Content-Length": "99999999999"}))
        assert "not a length within" in err(body, dict(h, **{"Inference-Header-Content-Length": "-5"}))
        assert "add up to" in err(body + b"extra", h)
        j = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 16],
                                    "parameters": {"binary_data_size": 100}}]}).encode()
        assert "binary_data_size is 100" in err(j + b"\0" * 100, {"Inference-Header-Content-Length": str(len(j))})
        # over the body limit: by Content-Length at once, and without one (chunked)
        for n in (2 << 20, 99999999999999):
            r = raw(s.port, b"POST /v2/models/dense/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n)
            assert b" 413 " in r.split(b"\r\n")[0] and b"over the 1048576-byte limit" in r, r[:300]
        chunks = b"".join(b"%x\r\n%s\r\n" % (65536, b"y" * 65536) for _ in range(24)) + b"0\r\n\r\n"
        r = raw(s.port, b"POST /v2/models/dense/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunks)
        assert r == b"" or b" 413 " in r.split(b"\r\n")[0], r[:200]
        # within the body limit but over what the server buffers for all clients together
        r = raw(s.port, b"POST /v2/models/dense/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n")
        assert b" 503 " in r.split(b"\r\n")[0] and b"buffers for requests are full" in r, r[:300]
        # truncated: Content-Length promises more than comes, then the client leaves
        raw(s.port, b"POST /v2/models/dense/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"inp",
            read=False)
        raw(s.port, b"GARBAGE\r\n\r\n")
        raw(s.port, b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n")
        # ... and a well-formed request still works, on a server still alive
        body, h = su.infer_json({"x": x})
        st, hd, b = s.request("POST", "/v2/models/dense/infer", body, h)
        assert st == 200, b
        assert s.alive()
        m = s.metrics()
        assert su.metric(m, 'tetherd_model_requests_total{model="dense",version="1",code="400"}') >= 20, m


# ---- the repository ------------------------------------------------------------------------

def test_load_unload_while_requests_are_in_flight(d):
    repo = repo_with_dense(d, "max_batch_size = 4\nmax_queue_delay_us = 2000\nmax_queue_size = 1000\n")
    x = np.ones((1, 16), np.float32)
    body, h = su.infer_binary({"x": x})
    want1 = su.local_run(os.path.join(repo, "dense/1/model.onnx"), {"x": x}, d)["y"]
    with running(serve(d, repo)) as s:
        stop = threading.Event()
        results = []
        lock = threading.Lock()

        def client():
            while not stop.is_set():
                try:
                    st, hd, b = s.request("POST", "/v2/models/dense/infer", body, h, timeout=30)
                except Exception as e:  # a lost request: no answer at all
                    st, hd, b = -1, {}, repr(e).encode()
                with lock:
                    results.append((st, hd, b))

        ts = [threading.Thread(target=client) for _ in range(6)]
        for t in ts:
            t.start()
        time.sleep(0.3)
        s.json("POST", "/v2/repository/models/dense/unload", {})
        time.sleep(0.2)
        idx = s.json("POST", "/v2/repository/index")
        assert idx == [{"name": "dense", "state": "UNAVAILABLE", "reason": "unloaded"}], idx
        # version 2 (another function) appears; a load switches to it with requests running
        su.add_model(repo, "dense", 2, su.dense_model, seed=5)
        s.json("POST", "/v2/repository/models/dense/load", {})
        time.sleep(0.3)
        stop.set()
        for t in ts:
            t.join()
        want2 = su.local_run(os.path.join(repo, "dense/2/model.onnx"), {"x": x}, d)["y"]
        codes = {}
        for st, hd, b in results:
            codes[st] = codes.get(st, 0) + 1
            if st == 200:
                doc, out = su.parse_infer(hd, b)
                su.same_bytes(out["y"], want1 if doc["model_version"] == "1" else want2, "version " +
                              doc["model_version"])
            else:
                assert st == 404 and b"dense" in b, (st, b[:300])
        assert -1 not in codes, "requests lost: %s" % codes
        assert codes.get(200, 0) > 10 and codes.get(404, 0) >= 1, codes
        versions = {json.loads(b[:int(hd["Inference-Header-Content-Length"])])["model_version"]
                    for st, hd, b in results if st == 200}
        assert versions == {"1", "2"}, versions
        assert s.json("GET", "/v2/models/dense")["versions"] == ["2"]
        err = s.json("POST", "/v2/repository/models/nosuch/load", {}, expect=404)
        assert "no model 'nosuch'" in err["error"], err
        err = s.json("POST", "/v2/repository/models/..hidden/load", {}, expect=400)
        assert "is not a model name" in err["error"], err
        err = s.json("POST", "/v2/repository/models/..%2F..%2Fetc/load", {}, expect=404)
        assert "no such endpoint" in err["error"], err


def test_repository_models_are_held_to_their_slot(d):
    su.onnx_or_skip()
    repo = os.path.join(d, "repo")
    su.add_model(repo, "big", 1, su.dense_model, "slot = tiny\n", k=256, n=256)
    su.add_model(repo, "fits", 1, su.dense_model, "slot = tiny\n")
    su.add_model(repo, "badcfg", 1, su.dense_model, "max_batch_size = lots\n")
    su.add_model(repo, "noslot", 1, su.dense_model, "slot = cpu.huge\n")
    with running(serve(d, repo, slots="cpu.medium=1,tiny=1", args=["--type", "tiny=64KiB,10%"])) as s:
        idx = {e["name"]: e for e in s.json("POST", "/v2/repository/index")}
        assert idx["fits"]["state"] == "READY", idx
        assert idx["big"]["state"] == "UNAVAILABLE" and "memory quota" in idx["big"]["reason"], idx["big"]
        assert "max_batch_size: 'lots' is not an integer" in idx["badcfg"]["reason"], idx["badcfg"]
        assert "slot type 'cpu.huge' is not defined" in idx["noslot"]["reason"], idx["noslot"]
        # the slot serving the repository cannot be attached; its memory holds the model
        desc = su.native_describe(s.native)
        tiny = [sl for sl in desc["slots"] if sl["type"] == "tiny"][0]
        assert tiny["state"] == "repository", tiny
        assert [t for t in desc["types"] if t["name"] == "tiny"][0]["free"] == 0, desc["types"]
        m = s.metrics()
        assert su.metric(m, 'tetherd_slot_memory_used_bytes{slot="1",type="tiny"}') > 0, m


if __name__ == "__main__":
    su.run_tests([test_server_health_and_metadata, test_json_and_binary_inference_equal_a_local_run,
                  test_http_batching_is_bit_identical, test_api_keys, test_hostile_bodies,
                  test_load_unload_while_requests_are_in_flight, test_repository_models_are_held_to_their_slot])
