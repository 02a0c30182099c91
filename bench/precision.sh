#!/usr/bin/env bash
# Reduced precision on the cpu backend: `tether bench` of each model at fp32, bf16 and int8
# (2 threads), printing p50 and the error / top-1 agreement against fp32 that bench reports.
# usage: bench/precision.sh MODELDIR [MODEL ...]   (default: bert_tiny gpt_tiny resnet50;
# make them with tests/models/export_models.py MODELDIR bert_tiny gpt_tiny resnet50)
set -euo pipefail
dir=${1:?usage: bench/precision.sh MODELDIR [MODEL ...]}
shift
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(bert_tiny gpt_tiny resnet50)
tether=${TETHER:-build/bin/tether}
runs=${RUNS:-50}
echo "# $(nproc) cores, 2 threads, $runs runs; load average $(cut -d' ' -f1 /proc/loadavg)"
for m in "${models[@]}"; do
    for p in fp32 bf16 int8; do
        out=$("$tether" bench "$dir/$m.onnx" --threads 2 --runs "$runs" --precision "$p" --no-progress 2>&1)
        p50=$(awk '/p50/ {print $8}' <<<"$out")
        acc=$(grep " vs fp32" <<<"$out" | sed 's/^ *//' || true)
        printf '%-10s %-5s p50 %8s ms  %s\n' "$m" "$p" "$p50" "${acc:-(reference)}"
    done
done
