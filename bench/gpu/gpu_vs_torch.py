#!/usr/bin/env python3
"""tether on a CUDA GPU against PyTorch eager on the same GPU, side by side in one run: for
each model, batch size and precision, tether's outputs are first checked against PyTorch's
fp32 CPU reference (fp32: |a-b| <= 1e-4 + 1e-3|b|; tf32 and fp16 report their error), then
both are timed (tether: `tether bench --target cuda:0`, PyTorch: torch_cuda_bench.py, each
run to the GPU's end). Prints first inference, p50, p90, the ratio tether/PyTorch p50
(goal <= 1.00) and the error against fp32. fp32 rows compare with PyTorch's TF32 turned off
(PyTorch enables it for cuDNN by default), tf32 rows with it on, fp16 rows with autocast.

usage: gpu_vs_torch.py [--runs N] [--batches 1,8] [--precisions fp32,tf32] [--json FILE]
                       [--build DIR] [--models DIR] [--device cuda:0] [MODEL...]"""
import argparse, json, os, subprocess, sys, tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-1500:]}")
    return r.stdout


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    return json.loads(text)


def batch_input(models, model, batch):
    x = np.load(os.path.join(models, model + ".input.npy"))
    y = np.load(os.path.join(models, model + ".output.npy"))
    if batch == 1:
        return os.path.join(models, model + ".input.npy"), os.path.join(models, model + ".output.npy"), y
    inp = os.path.join(models, f"{model}.input.b{batch}.npy")
    ref = os.path.join(models, f"{model}.output.b{batch}.npy")
    np.save(inp, np.concatenate([x] * batch, axis=0))
    y = np.concatenate([y] * batch, axis=0)
    np.save(ref, y)
    return inp, ref, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "resnet50", "mobilenet_v2", "bert_tiny", "gpt_tiny"])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--precisions", default="fp32,tf32")
    ap.add_argument("--json")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--device", default="cuda:0")
    a = ap.parse_args()
    tether = os.path.join(a.build, "bin", "tether")
    models = a.models_dir or os.path.join(a.build, "models")
    os.makedirs(models, exist_ok=True)
    rows, failures = [], 0
    gpu = ""
    print(f"{'model':<13} {'b':>2} {'prec':<5} {'tether first':>12} {'p50':>8} {'p90':>8} {'torch p50':>10} "
          f"{'ratio':>6} {'goal':<8} {'tether err':>10} {'torch err':>10}")
    for model in a.models:
        if not os.path.exists(os.path.join(models, model + ".onnx")):
            run([sys.executable, os.path.join(HERE, "export.py"), models, model])
        onnx = os.path.join(models, model + ".onnx")
        for batch in [int(b) for b in a.batches.split(",")]:
            inp, ref, want = batch_input(models, model, batch)
            for prec in a.precisions.split(","):
                env = dict(os.environ, TETHER_PRECISION=prec)
                row = {"model": model, "batch": batch, "precision": prec}
                try:
                    with tempfile.TemporaryDirectory() as d:
                        run([tether, "run", onnx, "--target", a.device, "--input", "input=" + inp, "--output-dir", d],
                            env)
                        got = np.load(os.path.join(d, "output.npy"))
                    err = np.abs(got.astype(np.float64) - want)
                    row["tether_max_abs_err"] = float(err.max())
                    if prec == "fp32" and (err > 1e-4 + 1e-3 * np.abs(want)).any():
                        row["error"] = f"outputs differ from PyTorch's (max |a-b| {err.max():.3g})"
                    t = last_json(run([tether, "bench", onnx, "--target", a.device, "--input", "input=" + inp,
                                       "--runs", str(a.runs), "--json", "--no-progress"], env))
                    t = t["rows"][0] if "rows" in t else t
                    p = last_json(run([sys.executable, os.path.join(HERE, "torch_cuda_bench.py"), model, inp, ref,
                                       str(a.runs), prec]))
                    gpu = p.get("device", gpu)
                    row.update({"tether_first_ms": t["first_ms"], "tether_p50_ms": t["p50_ms"],
                                "tether_p90_ms": t["p90_ms"], "torch_p50_ms": p["p50_ms"],
                                "torch_max_abs_err": p["max_abs_err"], "ratio": t["p50_ms"] / p["p50_ms"]})
                except (RuntimeError, KeyError, ValueError) as e:
                    row["error"] = str(e)
                rows.append(row)
                if "ratio" in row:
                    goal = "met" if row["ratio"] <= 1.0 else "NOT met"
                    print(f"{model:<13} {batch:>2} {prec:<5} {row['tether_first_ms']:>12.2f} "
                          f"{row['tether_p50_ms']:>8.3f} {row['tether_p90_ms']:>8.3f} {row['torch_p50_ms']:>10.3f} "
                          f"{row['ratio']:>6.2f} {goal:<8} {row['tether_max_abs_err']:>10.2e} "
                          f"{row['torch_max_abs_err']:>10.2e}" + (f"  ({row['error']})" if "error" in row else ""))
                else:
                    print(f"{model:<13} {batch:>2} {prec:<5} FAILED: {row['error']}")
                failures += "error" in row
                sys.stdout.flush()
    print(f"# GPU: {gpu}; {a.runs} timed runs per row")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"gpu": gpu, "runs": a.runs, "rows": rows}, f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
