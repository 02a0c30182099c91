#!/usr/bin/env bash
# Exports PyTorch models to ONNX for the integration tests, once per build tree.
# usage: export_models.sh EXPORT_SCRIPT OUTDIR NAME...   Fails, saying so, where PyTorch or
# the export script is missing (scripts/deps.sh installs PyTorch).
set -euo pipefail
script=$1 out=$2
shift 2
need=0
for name in "$@"; do [ -f "$out/$name.onnx" ] || need=1; done
[ "$need" = 0 ] && { echo "models already exported in $out"; exit 0; }
if [ ! -f "$script" ]; then
  echo "FAIL: the export script $script is missing"
  exit 1
fi
if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  echo "FAIL: /usr/bin/python3 has no torch/torchvision: run scripts/deps.sh (python3-torch python3-torchvision)"
  exit 1
fi
# export into a temporary directory and move the results, so an interrupted export
# never leaves a half-written model behind
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tether-export.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$script" "$tmp" "$@"
mkdir -p "$out"
for name in "$@"; do
  mv "$tmp/$name.input.npy" "$tmp/$name.output.npy" "$out/"
  mv "$tmp/$name.onnx" "$out/"
done
