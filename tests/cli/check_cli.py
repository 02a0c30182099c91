#!/usr/bin/python3
"""The tether command from outside: run writes .npy outputs equal to numpy's result, info
reports the model's numbers, bad input gives an error on stderr and a non-zero exit, and
every command answers --help.  usage: check_cli.py TETHER_BIN"""
import json, os, subprocess, sys, tempfile, time
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

tether = sys.argv[1]
failures = []
passes = []

def check(cond, what):
    print(("pass " if cond else "FAIL ") + what)
    (passes if cond else failures).append(what)

def run(*args):
    return subprocess.run([tether, *args], capture_output=True, text=True)

with tempfile.TemporaryDirectory() as d:
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["h"]),
         helper.make_node("Relu", ["h"], ["y"]), helper.make_node("Sigmoid", ["h"], ["p"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("p", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = os.path.join(d, "mlp.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), model)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.save(os.path.join(d, "x.npy"), x)
    out = os.path.join(d, "out")

    r = run("run", model, "--input", "x=" + os.path.join(d, "x.npy"), "--output-dir", out)
    check(r.returncode == 0, f"run exits 0 ({r.stderr.strip()})")
    h = x @ w + b
    if r.returncode == 0:
        y, p = np.load(os.path.join(out, "y.npy")), np.load(os.path.join(out, "p.npy"))
        check(y.shape == (5, 3) and np.allclose(y, np.maximum(h, 0), rtol=1e-5, atol=1e-6), "run: y = relu(xW+b)")
        check(np.allclose(p, 1 / (1 + np.exp(-h)), rtol=1e-5, atol=1e-6), "run: p = sigmoid(xW+b)")
        check("y: float32[5,3]" in r.stdout and "p: float32[5,3]" in r.stdout, "run prints name, dtype, shape")
        check("on cpu" in r.stdout, "run says where it ran")

    r = run("run", model, "--input", os.path.join(d, "x.npy"))   # positional input
    check(r.returncode == 0, "run with a positional input")

    r = run("info", model, "--json")
    check(r.returncode == 0, "info --json exits 0")
    if r.returncode == 0:
        info = json.loads(r.stdout)
        check(info["parameters"] == 15 and info["weight_bytes"] == 60, "info counts parameters and bytes")
        check(info["inputs"][0]["shape"] == ["batch", 4], "info shows the symbolic batch")
        check(info["ops"] == {"MatMul": 1, "Add": 1, "Relu": 1, "Sigmoid": 1}, "info op histogram")
        # at batch 1: 2*4*3 for MatMul, then 3 per elementwise op
        check(info["flops"] == 2 * 4 * 3 + 3 + 3 + 3, f"info FLOPs at batch 1 ({info['flops']})")
        check(info["opsets"] == {"ai.onnx": 13}, "info opsets")

    r = run("run", os.path.join(d, "missing.onnx"))
    check(r.returncode != 0 and "missing.onnx" in r.stderr, "a missing model is an error naming it")
    with open(os.path.join(d, "trunc.onnx"), "wb") as f:
        f.write(open(model, "rb").read()[:100])
    r = run("info", os.path.join(d, "trunc.onnx"))
    check(r.returncode != 0 and "byte" in r.stderr, "a truncated model is an error naming the byte offset")
    np.save(os.path.join(d, "bad.npy"), np.zeros((5, 7), np.float32))
    r = run("run", model, "--input", "x=" + os.path.join(d, "bad.npy"))
    check(r.returncode != 0 and "dimension 1 must be 4" in r.stderr, "a wrong input shape is named")
    r = run("run", model, "--input", "nope=" + os.path.join(d, "x.npy"))
    check(r.returncode != 0 and "no input named 'nope'" in r.stderr, "an unknown input name is named")
    # types numpy cannot name (bfloat16, float8, int4, ...) travel in .npy files under ml_dtypes'
    # names, which np.load reads once ml_dtypes is imported; written here by hand
    bits = np.array([0x3f80, 0xc020, 0x3f00], np.uint16)  # bfloat16 1.0, -2.5, 0.5
    hdr = "{'descr': 'bfloat16', 'fortran_order': False, 'shape': (3,), }"
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    with open(os.path.join(d, "bf.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr.encode() + bits.tobytes())
    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT), helper.make_node("Neg", ["x"], ["z"])],
        "bf", [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("z", TensorProto.BFLOAT16, [3])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(d, "bf.onnx"))
    out = os.path.join(d, "bfout")
    r = run("run", os.path.join(d, "bf.onnx"), "--input", "x=" + os.path.join(d, "bf.npy"), "--output-dir", out)
    ok = r.returncode == 0
    if ok:
        y = np.load(os.path.join(out, "y.npy"))
        raw = open(os.path.join(out, "z.npy"), "rb").read()
        ok = (y.tolist() == [1.0, -2.5, 0.5] and b"'descr': 'bfloat16'" in raw
              and np.frombuffer(raw[-6:], np.uint16).tolist() == (bits ^ 0x8000).tolist())
    check(ok, "bfloat16 .npy in and out under ml_dtypes' name")
    r = run("frobnicate")
    check(r.returncode == 2 and "unknown command" in r.stderr, "an unknown command is an error")
    r = run()
    check(r.returncode == 2 and "no command given" in r.stderr, "no command is a usage error naming it")
    for cmd in ["run", "info", "attach", "detach", "describe-accelerators", "doctor", "bench", "advise"]:
        r = run(cmd, "--help")
        check(r.returncode == 0 and "usage" in (r.stdout + r.stderr).lower(), f"{cmd} --help")

# ---- the CLI's conventions: usage errors, numpy files, exact conversions, hostile text ------

def run_t(*args, timeout=60):
    try:
        return subprocess.run([tether, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None

with tempfile.TemporaryDirectory() as d:
    # y = x * 2 for int32 x of any shape; z = f + 1 for float16 f
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"]), helper.make_node("Add", ["f", "one"], ["z"])], "conv",
        [helper.make_tensor_value_info("x", TensorProto.INT32, ["a", "b"]),
         helper.make_tensor_value_info("f", TensorProto.FLOAT16, [3])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["a", "b"]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT16, [3])],
        [numpy_helper.from_array(np.ones(3, np.float16), "one")])
    model = os.path.join(d, "conv.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), model)
    f16 = np.array([0.5, 1.0, 2.0], np.float16)
    np.save(os.path.join(d, "f.npy"), f16)
    out = os.path.join(d, "out")

    # usage errors: exit 2, with the reason on stderr
    for args, reason in [(["run"], "no model given"), (["run", model, "--runs", "zero"], "--runs 'zero'"),
                         (["run", model, "--run-limit", "soon"], "--run-limit 'soon'"),
                         (["run", model, "--frobnicate"], "unrecognized option"),
                         (["info"], "no model given"), (["info", model, model], "one model at a time"),
                         (["bench", model, "--runs", "-3"], "--runs '-3'"), (["attach"], "no accelerator type"),
                         (["attach", "eia2.medium"], "--server"), (["detach", "seven"], "'seven' is not an ordinal"),
                         (["describe-accelerators", "--timeout", "x"], "--timeout 'x'"),
                         (["doctor", "--timeout", "0"], "--timeout '0'"), (["advise"], "no input"),
                         (["advise", "rows.csv", "--max-p90-ms", "fast"], "'fast' is not a positive number")]:
        r = run(*args)
        check(r.returncode == 2 and reason in r.stderr and "--help" in r.stderr,
              f"usage error {' '.join(args[:3])}: exit 2 naming '{reason}' ({r.returncode}: {r.stderr.strip()[:160]})")

    # .npy in both byte orders and in Fortran order; .npz (stored and compressed)
    x = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    variants = {"little": x, "big": x.astype(">i4"), "fortran": np.asfortranarray(x),
                "big-fortran": np.asfortranarray(x.astype(">i4"))}
    for name, arr in variants.items():
        np.save(os.path.join(d, name + ".npy"), arr)
        r = run("run", model, "--input", "x=" + os.path.join(d, name + ".npy"), "--input",
                "f=" + os.path.join(d, "f.npy"), "--output-dir", out)
        ok = r.returncode == 0 and np.array_equal(np.load(os.path.join(out, "y.npy")), 2 * x)
        check(ok, f"run reads a {name} .npy ({r.stderr.strip()[:200]})")
    np.savez(os.path.join(d, "in.npz"), x=x.astype(">i4"), f=f16)
    np.savez_compressed(os.path.join(d, "inz.npz"), x=np.asfortranarray(x), f=f16)
    for name in ("in.npz", "inz.npz"):
        r = run("run", model, "--input", os.path.join(d, name), "--output-dir", out)
        ok = r.returncode == 0 and np.array_equal(np.load(os.path.join(out, "y.npy")), 2 * x) and \
            np.array_equal(np.load(os.path.join(out, "z.npy")), f16 + 1)
        check(ok, f"run takes every input from {name} by name ({r.stderr.strip()[:200]})")
    np.savez(os.path.join(d, "extra.npz"), x=x, nope=x)
    r = run("run", model, "--input", os.path.join(d, "extra.npz"))
    check(r.returncode == 1 and "no input named 'nope'" in r.stderr and "'x', 'f'" in r.stderr,
          "an .npz array no input is named after is an error listing the inputs")

    # conversions: exact ones made, lossy ones refused naming the value
    np.save(os.path.join(d, "x64.npy"), x.astype(np.int64))
    r = run("run", model, "--input", "x=" + os.path.join(d, "x64.npy"), "--input", "f=" + os.path.join(d, "f.npy"),
            "--output-dir", out)
    check(r.returncode == 0 and np.array_equal(np.load(os.path.join(out, "y.npy")), 2 * x),
          "int64 values that fit are converted to an int32 input")
    np.save(os.path.join(d, "big.npy"), np.array([[1, 3_000_000_000]], np.int64))
    r = run("run", model, "--input", "x=" + os.path.join(d, "big.npy"), "--input", "f=" + os.path.join(d, "f.npy"))
    check(r.returncode == 1 and "3000000000" in r.stderr and "not exactly representable as int32" in r.stderr,
          f"int64 3e9 into int32 is refused, naming the value ({r.stderr.strip()[:200]})")
    np.save(os.path.join(d, "f64.npy"), np.array([0.5, 1e6, 2.0]))
    r = run("run", model, "--input", "x=" + os.path.join(d, "x64.npy"), "--input", "f=" + os.path.join(d, "f64.npy"))
    check(r.returncode == 1 and "1000000" in r.stderr and "float16" in r.stderr,
          f"float64 1e6 into float16 (inf) is refused ({r.stderr.strip()[:200]})")
    np.save(os.path.join(d, "f64ok.npy"), f16.astype(np.float64))
    r = run("run", model, "--input", "x=" + os.path.join(d, "x64.npy"), "--input", "f=" + os.path.join(d, "f64ok.npy"),
            "--output-dir", out)
    check(r.returncode == 0 and np.array_equal(np.load(os.path.join(out, "z.npy")), f16 + 1),
          "float64 values exact in float16 are converted")

    # a FIFO in place of the model, an input or an output never blocks
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    for args, what in [(["run", fifo], "as the model"), (["run", model, "--input", "x=" + fifo], "as an input"),
                       (["info", fifo], "to info")]:
        r = run_t(*args, timeout=20)
        check(r is not None and r.returncode == 1 and "not a regular file" in r.stderr,
              f"a FIFO {what} is refused at once")
    os.makedirs(out, exist_ok=True)
    os.remove(os.path.join(out, "y.npy"))
    os.mkfifo(os.path.join(out, "y.npy"))
    r = run_t("run", model, "--input", os.path.join(d, "in.npz"), "--output-dir", out, timeout=20)
    check(r is not None and r.returncode == 1 and "not a regular file" in r.stderr, "a FIFO as an output is refused")

    # --run-limit: a Loop whose trip count comes from the input stops
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["v_in", "v_in"], ["v_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])])
    g = helper.make_graph(
        [helper.make_node("Loop", ["n", "cond", "v0"], ["v"], body=body)], "forever",
        [helper.make_tensor_value_info("n", TensorProto.INT64, []),
         helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.array(True), "cond")])
    loop = os.path.join(d, "loop.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), loop)
    np.save(os.path.join(d, "n.npy"), np.array(1 << 62, np.int64))
    np.save(os.path.join(d, "v0.npy"), np.zeros(1, np.float32))
    t0 = time.time()
    r = run_t("run", loop, "--input", "n=" + os.path.join(d, "n.npy"), "--input", "v0=" + os.path.join(d, "v0.npy"),
              "--run-limit", "0.5", timeout=60)
    check(r is not None and r.returncode == 1 and "time limit" in r.stderr and time.time() - t0 < 30,
          f"--run-limit stops a loop that would never end ({None if r is None else r.stderr.strip()[:200]})")

    # text from a model reaches the terminal escaped: no control character passes
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["evil\x1b]0;pwned\x07\x1b[2Jname\rX"])], "esc",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("evil\x1b]0;pwned\x07\x1b[2Jname\rX", TensorProto.FLOAT,
                                                         [1])])
    esc = os.path.join(d, "esc.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="p\x1b[31m"), esc)
    np.save(os.path.join(d, "one.npy"), np.ones(1, np.float32))
    for args in (["run", esc, "--input", os.path.join(d, "one.npy")], ["info", esc]):
        r = run(*args)
        text = r.stdout + r.stderr
        check(r.returncode == 0 and "\x1b" not in text and "\x07" not in text and "\r" not in text and
              "evil\\x1b]0;pwned\\x07" in text, f"{args[0]} escapes control characters from the model")
    r = run("run", esc, "--input", "bad\x1b[2J=" + os.path.join(d, "one.npy"))
    check(r.returncode == 1 and "\x1b" not in r.stderr and "bad\\x1b[2J" in r.stderr,
          "an error quoting the user's text escapes it")
    long_name = "n" * 3000
    r = run("run", model, "--input", long_name + "=" + os.path.join(d, "f.npy"))
    check(r.returncode == 1 and long_name + "'" in r.stderr and "(its inputs: 'x', 'f')" in r.stderr,
          "a long error text comes out whole")

print(f"{len(passes)} passed, {len(failures)} failed, 0 skipped")
sys.exit(1 if failures else 0)
