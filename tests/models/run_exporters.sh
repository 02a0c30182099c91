#!/bin/sh
# Runs tests/models/check_exporters.py (today's PyTorch exporter against tether) with the
# virtual environment scripts/deps.sh --exporters makes; exits 77 (skipped), saying why,
# where that environment is not there. Exports are cached in $TETHER_ONNX_DIR/exports.
# usage: run_exporters.sh TETHER_BIN
dir=${TETHER_ONNX_DIR:-$HOME/.cache/tether-onnx}
py=$dir/venv/bin/python
if [ ! -x "$py" ]; then
  echo "skipped: no virtual environment at $dir/venv (scripts/deps.sh --exporters makes it)"
  exit 77
fi
exec "$py" "$(dirname "$0")/check_exporters.py" "$1" "$dir/exports"
