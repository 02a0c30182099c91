#!/usr/bin/env bash
# tetherd serving, measured with KServe's own load generator (perf_analyzer, HTTP) in one run:
#  1. dynamic batching: each model served twice from one repository — NAME with dynamic
#     batching (max_batch_size 8) and NAME_nobatch without — and perf_analyzer at
#     concurrency 1, 2, 4, 8, 16 (LEVELS) on both; the table gives throughput and p99 at every level,
#     and the goals at concurrency 8: throughput ratio (goal >= 2x for bert_tiny) and the
#     batched p99 against max_queue_delay plus one batched run (the mean compute time of a
#     batch, from tetherd's own histogram);
#  2. HTTP overhead: p50 of one request at a time in this process (tether bench), over the
#     native protocol (tether bench model:NAME --target tcp://...) and over HTTP/KServe
#     (perf_analyzer, concurrency 1, the unbatched model).
# Not a test: timings on a shared machine are noisy.
# usage: bench/serving.sh [MODEL...]   (default bert_tiny resnet50)
#        SECONDS_PER_POINT=4 DELAY_US=5000 LEVELS="1 2 4 8 16" PEERS=~/.cache/tether-peers
#        (perf_analyzer: scripts/deps.sh --peers)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS:-$HOME/.cache/tether-peers}
pa=$peers/bin/perf_analyzer
tetherd=$here/build/bin/tetherd
tether=$here/build/bin/tether
cache=$here/build/models
window_ms=$(( ${SECONDS_PER_POINT:-4} * 1000 ))
delay_us=${DELAY_US:-5000}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(bert_tiny resnet50)
[ -x "$tetherd" ] || { echo "build first: make" >&2; exit 1; }
[ -x "$pa" ] || { echo "perf_analyzer is missing: scripts/deps.sh --peers" >&2; exit 1; }
mkdir -p "$cache"

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

repo=$work/repo
for m in "${models[@]}"; do
  [ -f "$cache/$m.onnx" ] || /usr/bin/python3 "$here/tests/models/export_models.py" "$cache" "$m" >/dev/null
  for v in "$m" "${m}_nobatch"; do
    mkdir -p "$repo/$v/1"
    ln -s "$cache/$m.onnx" "$repo/$v/1/model.onnx"
  done
  printf 'slot = bench\nmax_batch_size = 8\nmax_queue_delay_us = %s\nmax_queue_size = 1024\n' "$delay_us" >"$repo/$m/config"
  printf 'slot = bench\nmax_batch_size = 0\nmax_queue_size = 1024\n' >"$repo/${m}_nobatch/config"
done

# one slot as large as the whole device, lent the whole device (--sched lend), so that the
# rate scheduler never holds the load back: this measures serving, not metering
"$tetherd" --listen 127.0.0.1:0 --port-file "$work/port" --http 127.0.0.1:0 --http-port-file "$work/http.port" \
  --state-dir "$work/state" --type bench=16GiB,100% --slots bench=1 --sched lend --model-repository "$repo" \
  --log-level warn >"$work/tetherd.log" 2>&1 &
pid=$!
for _ in $(seq 600); do [ -s "$work/http.port" ] && break; sleep 0.1; done
[ -s "$work/http.port" ] || { cat "$work/tetherd.log"; exit 1; }
http=127.0.0.1:$(cat "$work/http.port")
native=tcp://127.0.0.1:$(cat "$work/port")

# perf_analyzer -> CSV rows: concurrency, infer/s, p50 us, p99 us
# a request is the model's reference input, one row (from its .npy); a batching model's
# config leaves the batch dimension out of the shape, as Triton's do
shape_of() { /usr/bin/python3 -c 'import numpy, sys; print(",".join(map(str, numpy.load(sys.argv[1]).shape[int(sys.argv[2]):])))' "$1" "$2"; }
sweep() {
  local model=$1 range=$2 out=$3 base=${1%_nobatch} skip=1
  [ "$base" = "$model" ] || skip=0
  "$pa" -m "$model" -u "$http" -i http --concurrency-range "$range" --measurement-interval "$window_ms" \
    --input-data zero --shape "input:$(shape_of "$cache/$base.input.npy" $skip)" --max-trials 6 \
    --stability-percentage 25 -f "$out" >"$out.log" 2>&1 ||
    { tail -20 "$out.log" >&2; return 1; }
}
csv_rows() { /usr/bin/python3 -c '
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(r["Concurrency"], r["Inferences/Second"], r["p50 latency"], r["p99 latency"])' "$1"; }
metric() { curl -sf "http://$http/metrics" | awk -v k="$1" 'index($0, k) == 1 { print $NF }'; }

echo "tetherd serving benchmark: $(nproc) cores, $(date -u +%Y-%m-%d), max_queue_delay ${delay_us} us, ${window_ms} ms windows"
for m in "${models[@]}"; do
  echo
  printf '%-22s %6s %12s %10s %10s\n' model concurrency infer/s p50_ms p99_ms
  for v in "${m}_nobatch" "$m"; do
    : >"$work/$v.rows"
    for c in ${LEVELS:-1 2 4 8 16}; do
      sweep "$v" "$c" "$work/$v.$c.csv" && csv_rows "$work/$v.$c.csv" >>"$work/$v.rows" || true
    done
    while read -r c t p50 p99; do
      /usr/bin/python3 -c "print('%-22s %6s %12.1f %10.2f %10.2f' % ('$v', $c, $t, $p50 / 1000, $p99 / 1000))"
    done <"$work/$v.rows"
  done
  # concurrency 8, from the same sweep
  tn=0 p99n=0 tb=0 p99b=0
  read -r _ tn _ p99n < <(awk '$1 == 8' "$work/${m}_nobatch.rows") || true
  read -r _ tb _ p99b < <(awk '$1 == 8' "$work/$m.rows") || true
  runs=$(metric "tetherd_model_compute_seconds_count{model=\"$m\"")
  sum=$(metric "tetherd_model_compute_seconds_sum{model=\"$m\"")
  rows=$(metric "tetherd_model_batch_size_sum{model=\"$m\"")
  batches=$(metric "tetherd_model_batch_size_count{model=\"$m\"")
  /usr/bin/python3 - "$m" "$tn" "$tb" "$p99n" "$p99b" "$sum" "$runs" "$rows" "$batches" "$delay_us" <<'EOF'
import sys
m, tn, tb, p99n, p99b, csum, cnt, rows, batches, delay = sys.argv[1:]
tn, tb, p99n, p99b = float(tn), float(tb), float(p99n) / 1000, float(p99b) / 1000
if not tn or not tb:
    sys.exit(print(f"{m}: no measurement at concurrency 8 (see perf_analyzer's log)"))
run_ms = float(csum) / float(cnt) * 1000 if float(cnt) else 0  # each request records its batch's run
mean_batch = float(rows) / float(batches) if float(batches) else 0
bound = float(delay) / 1000 + run_ms
print(f"{m} at concurrency 8: batching {tb:.1f} vs {tn:.1f} infer/s = {tb / tn:.2f}x"
      f"{' (goal >= 2x: met)' if tb / tn >= 2 else ' (goal >= 2x: NOT met)' if m == 'bert_tiny' else ''}; "
      f"mean batch {mean_batch:.1f} rows")
print(f"{m} p99 at concurrency 8: batched {p99b:.2f} ms, unbatched {p99n:.2f} ms; "
      f"max_queue_delay + one batched run = {float(delay) / 1000:.2f} + {run_ms:.2f} = {bound:.2f} ms "
      f"({'within' if p99b <= bound else 'over'})")
EOF
done

echo
echo "one request at a time (p50): in this process, over the native protocol, over HTTP (KServe)"
for m in "${models[@]}"; do
  input=$cache/$m.input.npy
  local_ms=$("$tether" bench "$cache/$m.onnx" --input "$input" --runs 30 --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); d=d["rows"][0] if "rows" in d else d; print(d["p50_ms"])')
  native_ms=$("$tether" bench "model:${m}_nobatch" --target "$native" --input "$input" --runs 30 --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); d=d["rows"][0] if "rows" in d else d; print(d["p50_ms"])' ||
    echo nan)
  sweep "${m}_nobatch" 1 "$work/${m}_c1.csv" || true
  p50h=nan
  read -r _ _ p50h _ < <(csv_rows "$work/${m}_c1.csv" | awk '$1 == 1') || true
  /usr/bin/python3 -c "
l, n, h = $local_ms, float('$native_ms'), float('$p50h') / 1000
print(f'$m: in-process {l:.2f} ms, native {n:.2f} ms (+{n - l:.2f}), HTTP {h:.2f} ms (+{h - l:.2f}, {h / l:.2f}x)')"
done
