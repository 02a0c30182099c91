#!/bin/sh
# Runs the newest ONNX release's backend test suite, which `scripts/deps.sh --onnx-suite`
# writes to $TETHER_ONNX_DIR/suite (default ~/.cache/tether-onnx/suite), against its own
# expected passes and skip list (tests/conformance/newest/). Exits 77 (skipped), saying why,
# where the suite is not there.
# usage: run_newest.sh TETHER_CONFORMANCE
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=${TETHER_ONNX_DIR:-$HOME/.cache/tether-onnx}/suite
if [ ! -d "$dir/node" ]; then
  echo "skipped: no newest ONNX suite at $dir (scripts/deps.sh --onnx-suite writes it)"
  exit 77
fi
want=$(cat "$here/newest/VERSION")
have=$(cat "$dir/VERSION" 2>/dev/null)
if [ "$want" != "$have" ]; then
  echo "skipped: the suite at $dir is onnx $have, the expected passes are for onnx $want (rerun scripts/deps.sh --onnx-suite)"
  exit 77
fi
echo "onnx $have backend suite at $dir"
exec "$bin" -q --data "$dir" --expect "$here/newest/expected_pass.txt" --skip "$here/newest/skip.txt"
