"""Helpers for the serving tests: a real tetherd with a model repository on loopback,
HTTP with the standard library, ONNX models built with onnx's helper, local reference runs
with the tether CLI, and a minimal native-protocol client (HELLO, DESCRIBE).

Every test is a function; run_tests() runs them, prints each result and the summary line
"N passed, N failed, N skipped", and exits 1 on a failure (77 when all were skipped)."""
import hashlib, http.client, json, os, shutil, signal, socket, struct, subprocess, sys, tempfile, time, traceback

import numpy as np

TETHERD = os.environ.get("TETHERD", "")
TETHER = os.environ.get("TETHER_CLI", "")


class Skip(Exception):
    pass


def onnx_or_skip():
    try:
        import onnx  # noqa: F401
        from onnx import helper  # noqa: F401
    except ImportError as e:
        raise Skip("python3-onnx is not installed (%s): scripts/deps.sh installs it" % e)


# ---- models ----------------------------------------------------------------------------

def dense_model(path, k=16, n=8, seed=0):
    """y = relu(x @ W + b), x float[batch, k]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["t", "b"], ["u"]),
         helper.make_node("Relu", ["u"], ["y"])], "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(m, path)


def multi_model(path):
    """Two inputs, two outputs: s = a + b (float[batch, 4]), n = ids * 2 (int64[batch, 3])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    two = numpy_helper.from_array(np.array(2, dtype=np.int64), "two")
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Mul", ["ids", "two"], ["n"])], "multi",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 3])],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("n", TensorProto.INT64, ["batch", 3])], [two])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(m, path)


def add_model(repo, name, version, maker, config=None, **kw):
    maker(os.path.join(repo, name, str(version), "model.onnx"), **kw)
    if config is not None:
        with open(os.path.join(repo, name, "config"), "w") as f:
            f.write(config)


def local_run(model, inputs, workdir):
    """Runs model with the tether CLI on this host: {name: array} in, {name: array} out."""
    d = tempfile.mkdtemp(dir=workdir)
    args = [TETHER, "run", model, "--output-dir", os.path.join(d, "out")]
    for name, a in inputs.items():
        p = os.path.join(d, name + ".npy")
        np.save(p, a)
        args += ["--input", "%s=%s" % (name, p)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("tether run failed: " + r.stderr)
    out = {}
    for f in os.listdir(os.path.join(d, "out")):
        out[f[:-4]] = np.load(os.path.join(d, "out", f))
    return out


# ---- tetherd ------------------------------------------------------------------------------

class Server:
    def __init__(self, root, repo=None, args=(), slots="cpu.medium=2,cpu.large=1"):
        self.dir = tempfile.mkdtemp(prefix="srv", dir=root)
        self.log = os.path.join(self.dir, "server.log")
        pf, hpf = os.path.join(self.dir, "port"), os.path.join(self.dir, "http.port")
        cmd = [TETHERD, "--listen", "127.0.0.1:0", "--port-file", pf, "--http", "127.0.0.1:0", "--http-port-file",
               hpf, "--state-dir", os.path.join(self.dir, "state"), "--peak-gflops", "20", "--slots", slots,
               "--log-level", os.environ.get("TH_SERVER_LOG", "info")] + os.environ.get("TH_SERVER_ARGS", "").split()
        if repo:
            cmd += ["--model-repository", repo]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not (os.path.exists(hpf) and os.path.exists(pf)):
            if self.proc.poll() is not None:
                raise AssertionError("tetherd exited at start:\n" + open(self.log).read())
            if time.time() > deadline:
                raise AssertionError("tetherd did not start:\n" + open(self.log).read())
            time.sleep(0.05)
        self.port = int(open(hpf).read())
        self.native = int(open(pf).read())

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def json(self, method, path, obj=None, headers=None, expect=200):
        body = json.dumps(obj).encode() if obj is not None else None
        st, _, b = self.request(method, path, body, headers)
        if st != expect:
            raise AssertionError("%s %s: HTTP %d, expected %d: %s" % (method, path, st, expect, b[:500]))
        return json.loads(b) if b else None

    def metrics(self, headers=None):
        st, _, b = self.request("GET", "/metrics", headers=headers)
        assert st == 200, st
        return b.decode()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; tetherd must exit 0 (under ASan: without leaks)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("tetherd did not stop on SIGTERM:\n" + open(self.log).read()[-3000:])
            if rc != 0:
                raise AssertionError("tetherd exited %d on SIGTERM:\n%s" % (rc, open(self.log).read()[-3000:]))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def metric(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):].split()[-1])
    return 0.0


# ---- KServe bodies -------------------------------------------------------------------------

DT = {np.float32: "FP32", np.int64: "INT64", np.float64: "FP64", np.int32: "INT32", np.bool_: "BOOL", np.uint8: "UINT8"}
NP = {v: k for k, v in DT.items()}


def infer_json(inputs, outputs=None, binary_out=False):
    body = {"inputs": [{"name": n, "datatype": DT[a.dtype.type], "shape": list(a.shape), "data": a.flatten().tolist()}
                       for n, a in inputs.items()]}
    if outputs:
        body["outputs"] = [{"name": o, "parameters": {"binary_data": binary_out}} for o in outputs]
    elif binary_out:
        body["parameters"] = {"binary_data_output": True}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def infer_binary(inputs, binary_out=True):
    hdr = {"inputs": [{"name": n, "datatype": DT[a.dtype.type], "shape": list(a.shape),
                       "parameters": {"binary_data_size": a.nbytes}} for n, a in inputs.items()],
           "parameters": {"binary_data_output": binary_out}}
    j = json.dumps(hdr).encode()
    body = j + b"".join(np.ascontiguousarray(a).tobytes() for a in inputs.values())
    return body, {"Inference-Header-Content-Length": str(len(j)), "Content-Type": "application/octet-stream"}


def parse_infer(headers, body):
    """{name: array} from an infer response, JSON or binary."""
    n = headers.get("Inference-Header-Content-Length")
    jl = int(n) if n is not None else len(body)
    doc = json.loads(body[:jl])
    off = jl
    out = {}
    for o in doc["outputs"]:
        dt = NP[o["datatype"]]
        if "data" in o:
            out[o["name"]] = np.array(o["data"], dtype=dt).reshape(o["shape"])
        else:
            size = o["parameters"]["binary_data_size"]
            out[o["name"]] = np.frombuffer(body[off:off + size], dtype=dt).reshape(o["shape"])
            off += size
    assert off == len(body), "binary section: %d of %d bytes used" % (off, len(body))
    return doc, out


def same_bytes(a, b, what):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
        raise AssertionError("%s: not bit-identical (%s %s vs %s %s)" % (what, a.dtype, a.shape, b.dtype, b.shape))


# ---- the native protocol (HELLO, DESCRIBE, RESERVE) ------------------------------------------

def _str(b):
    return struct.pack("<H", len(b)) + b


class Native:
    """A bare native-protocol connection: frames are a 16-byte header (u8 cmd, u8 status,
    u16 flags, u32 request id, u64 length) and a payload, little-endian."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.rid = 0
        self.call(0x01, struct.pack("<IH", 0x52485454, 1) + _str(b"serving-test"))

    def call(self, cmd, payload):
        self.rid += 1
        self.s.sendall(struct.pack("<BBHIQ", cmd, 0, 0, self.rid, len(payload)) + payload)
        hdr = self._read(16)
        c, st, _, r, n = struct.unpack("<BBHIQ", hdr)
        data = self._read(n)
        assert c == cmd | 0x80 and st == 0 and r == self.rid, (c, st, r, data[:300])
        return data

    def _read(self, n):
        b = b""
        while len(b) < n:
            k = self.s.recv(n - len(b))
            if not k:
                raise AssertionError("the server closed the connection")
            b += k
        return b

    def describe(self):
        d = self.call(0x04, b"")
        (n,) = struct.unpack("<I", d[:4])
        return json.loads(d[4:4 + n])

    def reserve(self, type_, holder):
        """Attaches a slot of type_; returns its id."""
        d = self.call(0x10, _str(type_.encode()) + struct.pack("<I", 0) + _str(holder.encode()))
        (n,) = struct.unpack("<H", d[:2])
        return d[2:2 + n].decode()

    def close(self):
        self.s.close()


def native_describe(port):
    c = Native(port)
    try:
        return c.describe()
    finally:
        c.close()


# ---- running ----------------------------------------------------------------------------

def run_tests(tests):
    root = tempfile.mkdtemp(prefix="tether-serving-")
    passed = failed = skipped = 0
    only = sys.argv[1:]
    for t in tests:
        if only and not any(o in t.__name__ for o in only):
            continue
        d = tempfile.mkdtemp(prefix=t.__name__[:20], dir=root)
        t0 = time.time()
        try:
            t(d)
            passed += 1
            print("pass %s (%.1f s)" % (t.__name__, time.time() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("skip %s: %s" % (t.__name__, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s\n%s" % (t.__name__, traceback.format_exc()), flush=True)
    shutil.rmtree(root, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(1 if failed else 77 if skipped and not passed else 0)
