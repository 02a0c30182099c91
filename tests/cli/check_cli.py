#!/usr/bin/python3
"""The tether command from outside: run writes .npy outputs equal to numpy's result, info
reports the model's numbers, bad input gives an error on stderr and a non-zero exit, and
every command answers --help.  usage: check_cli.py TETHER_BIN"""
import json, os, subprocess, sys, tempfile
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
    for cmd in ["run", "info", "attach", "detach", "describe-accelerators", "doctor", "bench", "advise"]:
        r = run(cmd, "--help")
        check(r.returncode == 0 and "usage" in (r.stdout + r.stderr).lower(), f"{cmd} --help")

print(f"{len(passes)} passed, {len(failures)} failed, 0 skipped")
sys.exit(1 if failures else 0)
