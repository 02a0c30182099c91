#!/usr/bin/env bash
# The engine against the peers, side by side in one run: for each model, tether (local CPU),
# ONNX Runtime 1.30 (onnxruntime-node) and PyTorch 1.13 eager, same input, same thread
# count; prints first-inference and p50/p90 latency and the ratios tether/peer (lower is
# better for tether). Not a test: timings on a shared machine are noisy.
# usage: bench/engine_vs_peers.sh [MODEL...]   (default resnet18 resnet50 mobilenet_v2 bert_tiny gpt_tiny)
#        RUNS=50 THREADS=2 PEERS=~/.cache/tether-peers   (scripts/deps.sh --peers installs them)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
peers_src=$here/../shared/peers
peers=${PEERS:-$HOME/.cache/tether-peers}
runs=${RUNS:-50}
threads=${THREADS:-$(nproc)}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(resnet18 resnet50 mobilenet_v2 bert_tiny gpt_tiny)
tether=$here/build/bin/tether
cache=$here/build/models
[ -x "$tether" ] || { echo "build first: make" >&2; exit 1; }
[ -d "$peers/node_modules/onnxruntime-node" ] || { echo "install the peers first: scripts/deps.sh --peers" >&2; exit 1; }
mkdir -p "$cache"

field() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); d=d['rows'][0] if 'rows' in d else d; print(d['$1'])"; }

printf '%-14s %-22s %10s %10s %10s\n' model system first_ms p50_ms p90_ms
for m in "${models[@]}"; do
  if [ ! -f "$cache/$m.onnx" ]; then
    /usr/bin/python3 "$peers_src/export_models.py" "$cache" "$m" >/dev/null
  fi
  t=$(TETHER_NUM_THREADS=$threads "$tether" bench "$cache/$m.onnx" --input "$cache/$m.input.npy" --runs "$runs" --json 2>/dev/null)
  o=$(NODE_PATH=$peers/node_modules node "$peers_src/ort_bench.js" "$cache/$m.onnx" "$cache/$m.input.npy" "$runs" "$threads")
  p=$(/usr/bin/python3 "$peers_src/torch_bench.py" "$m" "$cache/$m.input.npy" "$runs" "$threads")
  for sys in tether:"$t" onnxruntime:"$o" pytorch:"$p"; do
    name=${sys%%:*} js=${sys#*:}
    printf '%-14s %-22s %10.2f %10.2f %10.2f\n' "$m" "$name" "$(field first_ms <<<"$js")" "$(field p50_ms <<<"$js")" \
      "$(field p90_ms <<<"$js")"
  done
  tp=$(field p50_ms <<<"$t") op=$(field p50_ms <<<"$o") pp=$(field p50_ms <<<"$p")
  /usr/bin/python3 -c "print(f'{\"$m\":<14} ratio p50: tether/onnxruntime = {$tp/$op:.2f}x, tether/pytorch = {$tp/$pp:.2f}x')"
done
