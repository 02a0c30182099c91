#!/usr/bin/env python3
"""PyTorch eager on a CUDA GPU (no_grad, the model built as the peers' exporter builds it),
one JSON line: first inference, mean, p50, p90 in ms, each run timed to the GPU's end
(torch.cuda.synchronize). precision: fp32 (TF32 off for matmuls and cuDNN), tf32 (both on),
fp16 (autocast). Also the output's max |diff| against the fp32 CPU reference given.

usage: torch_cuda_bench.py NAME INPUT.npy REF_OUTPUT.npy [runs=50] [precision=fp32]"""
import json, sys, time

import numpy as np
import torch

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from export import load_peers  # noqa: E402


def main():
    name, inp, ref = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    precision = sys.argv[5] if len(sys.argv) > 5 else "fp32"
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    m, _ = load_peers().build(name)
    m = m.cuda().eval()
    x = torch.from_numpy(np.load(inp)).cuda()
    ctx = torch.autocast("cuda", dtype=torch.float16) if precision == "fp16" else torch.no_grad()
    with torch.no_grad(), ctx:
        torch.cuda.synchronize()
        t = time.perf_counter()
        y = m(x)
        torch.cuda.synchronize()
        first = (time.perf_counter() - t) * 1e3
        for _ in range(5):
            m(x)
        ts = []
        for _ in range(runs):
            torch.cuda.synchronize()
            t = time.perf_counter()
            y = m(x)
            torch.cuda.synchronize()
            ts.append((time.perf_counter() - t) * 1e3)
    if isinstance(y, tuple):
        y = y[0]
    got = y.float().cpu().numpy()
    want = np.load(ref)
    err = float(np.abs(got.astype(np.float64) - want).max()) if got.shape == want.shape else float("nan")
    ts.sort()
    q = lambda p: ts[min(len(ts) - 1, int(p * len(ts)))]
    print(json.dumps({"peer": "pytorch-" + torch.__version__ + "-cuda", "model": name, "precision": precision,
                      "device": torch.cuda.get_device_name(0), "runs": runs, "first_ms": first,
                      "mean_ms": sum(ts) / len(ts), "p50_ms": q(.5), "p90_ms": q(.9), "max_abs_err": err}))


if __name__ == "__main__":
    main()
