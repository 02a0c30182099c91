#!/usr/bin/env bash
# The accelerator part of the demo: a local tetherd on loopback, two attachments, a sample
# model run locally and remotely (same bytes out), describe-accelerators, doctor, and a
# latency table (remote vs local vs raw TCP). Cleans up after itself, even on failure.
# usage: scripts/demo-accel.sh [BUILD_DIR]   (default build/; built first if missing)
#        DEMO_RESNET50=1 adds ResNet-50 to the latency table (exported by PyTorch; slower)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
bin=$build/bin

if [ ! -x "$bin/tetherd" ] || [ ! -x "$bin/tether" ] || [ ! -x "$bin/bench_remote_latency" ]; then
  echo "== building into $build"
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$(nproc)" --target tetherd tether_cli bench_remote_latency >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tether-demo.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export TETHER_HOME=$tmp/home
unset TETHER_VISIBLE_DEVICES
tether() { "$bin/tether" "$@"; }
say() { printf '\n== %s\n' "$*"; }

say "tetherd on loopback: two cpu.medium slots and a cpu.large (fractions of this machine's measured peak)"
"$bin/tetherd" --listen 127.0.0.1:0 --port-file "$tmp/port" --state-dir "$tmp/state" \
  --slots cpu.medium=2,cpu.large=1 --log-level warn 2>"$tmp/tetherd.log" &
server_pid=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/tetherd.log"; echo "tetherd did not start" >&2; exit 1; }
server=127.0.0.1:$(cat "$tmp/port")
echo "tetherd $("$bin/tetherd" --version | cut -d' ' -f2-) listening on $server (pid $server_pid)"

say "tether attach"
set -x
tether attach cpu.medium --server "$server"
tether attach cpu.large --server "$server"
{ set +x; } 2>/dev/null

say "a sample model"
model= input=
if [ -f "$build/models/resnet18.onnx" ] && [ -f "$build/models/resnet18.input.npy" ]; then
  model=$build/models/resnet18.onnx input=$build/models/resnet18.input.npy
elif /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  "$here/tests/integration/export_models.sh" "$here/tests/models/export_models.py" "$build/models" resnet18 >/dev/null
  model=$build/models/resnet18.onnx input=$build/models/resnet18.input.npy
elif /usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null; then
  /usr/bin/python3 - "$tmp" <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
out = sys.argv[1]; rng = np.random.RandomState(0)
w1, w2 = (numpy_helper.from_array(rng.randn(*s).astype(np.float32) * 0.1, n) for n, s in (("w1", (256, 512)), ("w2", (512, 10))))
g = helper.make_graph([helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
                       helper.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 256])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [w1, w2])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]); m.ir_version = 8
onnx.save(m, out + "/mlp.onnx"); np.save(out + "/mlp.input.npy", rng.randn(8, 256).astype(np.float32))
PY
  model=$tmp/mlp.onnx input=$tmp/mlp.input.npy
else
  echo "no sample model: install python3-onnx (or python3-torch for ResNet-18)" >&2
  exit 1
fi
echo "$model"

say "the same run, locally and on eia:0 (the one word that changes)"
set -x
tether run "$model" --input "$input" --output-dir "$tmp/local" --runs 3
tether run "$model" --input "$input" --output-dir "$tmp/remote" --runs 3 --target eia:0
{ set +x; } 2>/dev/null
for f in "$tmp"/local/*.npy; do
  cmp "$f" "$tmp/remote/$(basename "$f")" && echo "$(basename "$f"): bit-identical locally and on eia:0"
done

say "tether describe-accelerators"
tether describe-accelerators

say "tether doctor 0"
tether doctor 0

say "latency: remote vs local vs raw loopback TCP"
if [ "${DEMO_RESNET50:-0}" = 1 ]; then
  "$bin/bench_remote_latency" --runs-tiny 2000 --runs-big 20
else
  "$bin/bench_remote_latency" --runs-tiny 2000 --no-resnet
fi

say "tether detach"
tether detach 1
tether detach 0
tether describe-accelerators
