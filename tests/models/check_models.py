#!/usr/bin/python3
"""Real models against PyTorch: export torchvision ResNet-18, ResNet-50, MobileNetV2 and
the small transformer encoder/decoder with the peers' exporter, run each with
`tether run`, and compare with PyTorch's output: |a - b| <= 1e-4 + 1e-3 * |b|.

usage: check_models.py TETHER_BIN EXPORTER CACHE_DIR [NAME ...]
Fails when PyTorch or the exporter is not available (scripts/deps.sh installs PyTorch), and
when tether cannot run a model (an op it does not support is a failure, never a skip)."""
import os, subprocess, sys, tempfile, time

def main():
    tether, exporter, cache = sys.argv[1:4]
    names = sys.argv[4:] or ["resnet18", "resnet50", "mobilenet_v2", "bert_tiny", "gpt_tiny"]
    try:
        import numpy as np
        import torch  # noqa: F401 (the exporter needs it)
    except ImportError as e:
        print(f"FAIL: {e}: run scripts/deps.sh (python3-torch, python3-torchvision)")
        return 1
    if not os.path.exists(exporter):
        print(f"FAIL: no exporter at {exporter}")
        return 1
    os.makedirs(cache, exist_ok=True)
    failures = 0
    for name in names:
        base = os.path.join(cache, name)
        if not all(os.path.exists(base + ext) for ext in (".onnx", ".input.npy", ".output.npy")):
            t = time.time()
            subprocess.run([sys.executable, exporter, cache, name], check=True, stdout=subprocess.DEVNULL)
            print(f"exported {name} in {time.time() - t:.1f} s")
        with tempfile.TemporaryDirectory() as out:
            t = time.time()
            r = subprocess.run([tether, "run", base + ".onnx", "--input", "input=" + base + ".input.npy",
                                "--output-dir", out], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {name}: tether run failed: {r.stderr.strip()}")
                failures += 1
                continue
            got = np.load(os.path.join(out, "output.npy"))
        want = np.load(base + ".output.npy")
        if got.shape != want.shape or got.dtype != want.dtype:
            print(f"FAIL {name}: got {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}")
            failures += 1
            continue
        err = np.abs(got.astype(np.float64) - want)
        bad = err > 1e-4 + 1e-3 * np.abs(want)
        if bad.any():
            i = np.unravel_index(np.argmax(err - 1e-3 * np.abs(want)), want.shape)
            print(f"FAIL {name}: {bad.sum()} of {want.size} elements differ; worst at {i}: {got[i]} vs {want[i]}")
            failures += 1
        else:
            print(f"pass {name}: {want.size} outputs match PyTorch (max |a-b| {err.max():.2e}), "
                  f"tether run took {time.time() - t:.2f} s")
    print(f"{len(names) - failures} passed, {failures} failed, 0 skipped")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
