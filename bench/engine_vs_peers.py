#!/usr/bin/python3
"""The engine against the peers, side by side in one run: for each model and batch size,
tether (local CPU), ONNX Runtime (CPU, from the peers' venv) and PyTorch eager, on the
same input and thread count. Before timing, tether's outputs are checked against
PyTorch's (|a-b| <= 1e-4 + 1e-3|b|). Prints, per row: first inference, p50, p90, the
ratio tether/ONNX Runtime, achieved GFLOP/s and its fraction of the machine's measured
FMA peak, and each process's peak RSS. Not a test: timings on a shared machine are noisy.

usage: bench/engine_vs_peers.py [--runs N] [--threads T] [--batches 1,8] [--json FILE] [MODEL...]
       (default models: resnet18 resnet50 mobilenet_v2 bert_tiny gpt_tiny;
        scripts/deps.sh --peers installs the peers; PEERS=DIR if not ~/.cache/tether-peers)
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, "..", "shared", "peers")
PEERS = os.environ.get("PEERS", os.path.expanduser("~/.cache/tether-peers"))
TETHER = os.path.join(ROOT, "build", "bin", "tether")
FMA_PEAK = os.path.join(ROOT, "build", "bin", "bench_fma_peak")
CACHE = os.path.join(ROOT, "build", "models")


def run_rss(cmd, env=None):
    """Runs cmd; returns its stdout and that process's own peak RSS in MiB (from wait4)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{err[-2000:]}")
    return out, ru.ru_maxrss / 1024


def last_json(text):
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit("no JSON line in:\n" + text[-2000:])


def export(model):
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.exists(os.path.join(CACHE, model + ".onnx")):
        subprocess.run(["/usr/bin/python3", os.path.join(SHARED, "export_models.py"), CACHE, model], check=True,
                       stdout=subprocess.DEVNULL)


def batch_input(model, batch):
    """The model's reference input repeated to `batch` rows, and PyTorch's output likewise."""
    x = np.load(os.path.join(CACHE, model + ".input.npy"))
    y = np.load(os.path.join(CACHE, model + ".output.npy"))
    if batch == 1:
        return os.path.join(CACHE, model + ".input.npy"), y
    xb = np.concatenate([x] * batch, axis=0)
    path = os.path.join(CACHE, f"{model}.input.b{batch}.npy")
    np.save(path, xb)
    return path, np.concatenate([y] * batch, axis=0)


def check_tether(model, inp, want, threads):
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, TETHER_NUM_THREADS=str(threads))
        subprocess.run([TETHER, "run", os.path.join(CACHE, model + ".onnx"), "--input", inp, "--output-dir", d],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        got = np.load(os.path.join(d, "output.npy"))
    if got.shape != want.shape:
        raise SystemExit(f"{model}: tether's output has shape {got.shape}, PyTorch's {want.shape}")
    err = np.abs(got.astype(np.float64) - want)
    bad = err > 1e-4 + 1e-3 * np.abs(want)
    if bad.any():
        raise SystemExit(f"{model}: {bad.sum()} outputs differ from PyTorch's (max |a-b| {err.max():.3g})")
    return float(err.max())


def flops_of(model):
    out = subprocess.run([TETHER, "info", os.path.join(CACHE, model + ".onnx"), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["flops"]  # per inference at batch 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "resnet50", "mobilenet_v2", "bert_tiny", "gpt_tiny"])
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 50)))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", os.cpu_count())))
    ap.add_argument("--batches", default=os.environ.get("BATCHES", "1,8"))
    ap.add_argument("--json", help="also write every row to this file")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    a = ap.parse_args()
    venv_py = os.path.join(PEERS, "venv", "bin", "python")
    if not os.path.exists(TETHER):
        raise SystemExit("build first: make")
    if not os.path.exists(venv_py) or subprocess.run([venv_py, "-c", "import onnxruntime"],
                                                     capture_output=True).returncode:
        raise SystemExit("install the peers first: scripts/deps.sh --peers")
    peak = last_json(subprocess.run([FMA_PEAK, str(a.threads)], check=True, capture_output=True, text=True).stdout)
    ort_version = subprocess.run([venv_py, "-c", "import onnxruntime as o; print(o.__version__)"],
                                 capture_output=True, text=True).stdout.strip()
    print(f"# {a.threads} threads, {a.runs} runs; FMA peak {peak['gflops']:.1f} GFLOP/s ({peak['isa']}); "
          f"ONNX Runtime {ort_version}; load average {os.getloadavg()[0]:.2f}")
    hdr = f"{'model':<13} {'b':>2} {'system':<12} {'first ms':>9} {'p50 ms':>8} {'p90 ms':>8} {'/ORT':>6} " \
          f"{'GFLOP/s':>8} {'%peak':>6} {'RSS MiB':>8}"
    print(hdr)
    rows = []
    for model in a.models:
        export(model)
        flops = flops_of(model)
        for batch in [int(b) for b in a.batches.split(",")]:
            inp, want = batch_input(model, batch)
            maxerr = check_tether(model, inp, want, a.threads)
            onnx = os.path.join(CACHE, model + ".onnx")
            env = dict(os.environ, TETHER_NUM_THREADS=str(a.threads))
            out, rss = run_rss([TETHER, "bench", onnx, "--input", inp, "--runs", str(a.runs), "--threads",
                                str(a.threads), "--json", "--no-progress"], env)
            t = last_json(out)
            t = t["rows"][0] if "rows" in t else t
            res = {"tether": (t, rss)}
            out, rss = run_rss([venv_py, os.path.join(SHARED, "ort_bench.py"), onnx, inp, str(a.runs), str(a.threads)])
            res["onnxruntime"] = (last_json(out), rss)
            if not a.no_torch:
                out, rss = run_rss(["/usr/bin/python3", os.path.join(SHARED, "torch_bench.py"), model, inp,
                                    str(a.runs), str(a.threads)])
                res["pytorch"] = (last_json(out), rss)
            ort_p50 = res["onnxruntime"][0]["p50_ms"]
            for system, (r, rss) in res.items():
                gflops = flops * batch / (r["p50_ms"] / 1e3) / 1e9
                row = {"model": model, "batch": batch, "system": system, "first_ms": r["first_ms"],
                       "p50_ms": r["p50_ms"], "p90_ms": r["p90_ms"], "ratio_to_ort": r["p50_ms"] / ort_p50,
                       "gflops": gflops, "peak_fraction": gflops / peak["gflops"], "peak_rss_mib": rss}
                if system == "tether":
                    row["max_abs_err_vs_pytorch"] = maxerr
                rows.append(row)
                print(f"{model:<13} {batch:>2} {system:<12} {r['first_ms']:>9.2f} {r['p50_ms']:>8.2f} "
                      f"{r['p90_ms']:>8.2f} {r['p50_ms'] / ort_p50:>6.2f} {gflops:>8.1f} "
                      f"{100 * gflops / peak['gflops']:>5.1f}% {rss:>8.1f}")
            tr = res["tether"][0]
            print(f"{'':<13} {'':>2} goals: p50/ORT {tr['p50_ms'] / ort_p50:.2f} (<= 1.00), first/p50 "
                  f"{tr['first_ms'] / tr['p50_ms']:.2f} (<= 2.00), RSS/ORT "
                  f"{res['tether'][1] / res['onnxruntime'][1]:.2f} (<= 1.00)")
            sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "runs": a.runs, "fma_peak": peak, "onnxruntime": ort_version,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
