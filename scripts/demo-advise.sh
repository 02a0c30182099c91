#!/usr/bin/env bash
# The Elastic Inference write-ups' loop in one command: measure a model on this host's CPU and
# on each accelerator type of a tetherd server (attached in turn, then detached), then print
# the cheapest combination that meets a latency target and write its chart.
# The README's main command (scripts/demo.sh) ends with it, against its local tetherd.
#
# Usage: scripts/demo-advise.sh --server HOST:PORT [--model M.onnx] [--host TYPE]
#            [--types LIST] [--max-p90-ms MS] [--runs N] [--out DIR]
#   --model       default: a small MLP made here with onnx.helper
#   --host        the EC2 type this host stands for when pricing (default c5.large)
#   --types       accelerator types to sweep (default: tether bench's)
#   --max-p90-ms  the latency target (default 50)
#   --out         where rows.json, prices.csv and advise.svg go (default build/demo-advise)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tether=${TETHER_CLI:-$here/build/bin/tether}
server="" model="" host=c5.large types="" max_p90=50 runs=100 out=$here/build/demo-advise

while [ $# -gt 0 ]; do
  case $1 in
    --server) server=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    --max-p90-ms) max_p90=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo-advise: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$server" ] || { echo "demo-advise: --server HOST:PORT is required (a running tetherd)" >&2; exit 2; }
[ -x "$tether" ] || { echo "demo-advise: $tether is not built: cmake --build build" >&2; exit 1; }
mkdir -p "$out"

if [ -z "$model" ]; then
  model=$out/mlp.onnx
  /usr/bin/python3 - "$model" <<'EOF'
import sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper, save
rng = np.random.default_rng(0)
w = lambda name, *shape: numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.05, name)
nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2", "b2"], ["y"])]
g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 512])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
                      [w("w1", 512, 1024), w("b1", 1024), w("w2", 1024, 10), w("b2", 10)])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
save(m, sys.argv[1])
EOF
fi

# The cpu.* slot types of a small CPU server have no published price: price the server as a
# c5.xlarge ($0.17/hour) and each slot by its share of it (1/8, 1/4, 1/2).
cat >"$out/prices.csv" <<'EOF'
name,price_per_hour
cpu.small,0.02125
cpu.medium,0.0425
cpu.large,0.085
EOF

echo "== tether bench $(basename "$model") --sweep --server $server"
sweep=(bench "$model" --sweep --server "$server" --host "$host" --runs "$runs" --prices "$out/prices.csv")
[ -n "$types" ] && sweep+=(--types "$types")
# The table on the terminal, the same rows as JSON for advise. A sweep that could attach
# nothing exits 1 after measuring the host CPU: say so, and advise on what was measured.
if ! "$tether" "${sweep[@]}" --output "$out/rows.json"; then
  [ -s "$out/rows.json" ] || exit 1
  echo "demo-advise: no accelerator type could be measured; advising on the host CPU alone" >&2
fi

echo
echo "== tether advise rows.json --max-p90-ms $max_p90"
"$tether" advise "$out/rows.json" --prices "$out/prices.csv" --max-p90-ms "$max_p90" --svg "$out/advise.svg"
