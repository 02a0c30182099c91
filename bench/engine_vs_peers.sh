#!/usr/bin/env bash
# The engine against the peers, side by side in one run (see bench/engine_vs_peers.py):
# tether, ONNX Runtime and PyTorch on the same inputs and thread count, batch 1 and 8.
# usage: bench/engine_vs_peers.sh [MODEL...]   RUNS=50 THREADS=2 BATCHES=1,8 PEERS=DIR
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/engine_vs_peers.py" "$@"
