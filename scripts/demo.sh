#!/usr/bin/env bash
# tether's main job on an embedded default, from a fresh Debian machine: install the
# dependencies, build, then
#   1. start a local tetherd on loopback, attach accelerator slots, run a sample model
#      locally and remotely (bit-identical), describe-accelerators, doctor, and a latency
#      table (scripts/demo-accel.sh);
#   2. start a tetherd again, sweep the sample model over the host CPU and each slot type,
#      and print the cheapest combination meeting a latency target (scripts/demo-advise.sh).
# usage: scripts/demo.sh          (as root on a fresh machine; later runs skip what is done)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== dependencies"
bash scripts/deps.sh
echo "== build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "built build/bin/tether, build/bin/tetherd, build/lib/libtether.so"

bash scripts/demo-accel.sh "$root/build"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tether-demo2.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export TETHER_HOME=$tmp/home
printf '\n== a tetherd with one slot of each small-CPU type, for the sweep\n'
build/bin/tetherd --listen 127.0.0.1:0 --port-file "$tmp/port" --state-dir "$tmp/state" \
  --slots cpu.small=1,cpu.medium=1,cpu.large=1 --log-level warn 2>"$tmp/tetherd.log" &
pid=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/tetherd.log"; echo "tetherd did not start" >&2; exit 1; }
bash scripts/demo-advise.sh --server "127.0.0.1:$(cat "$tmp/port")" --types cpu.small,cpu.medium,cpu.large \
  --max-p90-ms 5 --out "$root/build/demo-advise"
echo
echo "chart: build/demo-advise/advise.svg"
