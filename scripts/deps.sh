#!/usr/bin/env bash
# Installs everything tether needs from Debian's packages; the one place dependencies are named.
# Idempotent: packages already present are not touched, so it is cheap to call before every build.
# Usage: scripts/deps.sh [--peers] [--onnx-suite] [--exporters]
#   --peers       also installs the peers bench/ compares against (../shared/peers/setup.sh) and
#                 KServe's reference clients, tritonclient and perf_analyzer, in their venv
#   --onnx-suite  makes a virtual environment with the newest onnx from PyPI (pinned below) and
#                 writes its backend test suite to $TETHER_ONNX_DIR/suite (default
#                 ~/.cache/tether-onnx), which scripts/check.sh then runs too
#   --exporters   adds PyTorch 2.x, torchvision and onnxscript to that environment, for the
#                 checks of today's exporters (tests/models/check_exporters.py); about 5 GB
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git
  libdnnl-dev libopenblas-dev
  libssl-dev libcurl4-openssl-dev libcjson-dev libmicrohttpd-dev zlib1g-dev
  etcd-server
  libonnx-testdata python3 python3-numpy python3-onnx python3-pytest python3-venv python3-pip python3-setuptools python3-wheel
  python3-torch python3-torchvision
  clang libclang-rt-14-dev
  chromium curl libb64-0d
)

need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages: ${need[*]}" >&2
    echo "deps: run scripts/deps.sh as root to install them" >&2
    exit 1
  fi
  echo "deps: installing ${#need[@]} Debian packages: ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

here=$(cd "$(dirname "$0")/.." && pwd)
peers=0 suite=0 exporters=0
for a in "$@"; do
  case $a in
    --peers) peers=1 ;;
    --onnx-suite) suite=1 ;;
    --exporters) suite=1 exporters=1 ;;
    *) echo "deps: unknown option $a" >&2; exit 2 ;;
  esac
done

if [ $peers = 1 ]; then
  peersdir=${TETHER_PEERS_DIR:-$HOME/.cache/tether-peers}
  bash "$here/../shared/peers/setup.sh" "$peersdir"
  # KServe's reference clients, for tests/integration/test_tritonclient.py and bench/serving.sh:
  # tritonclient from PyPI, and perf_analyzer, which PyPI's perf-analyzer package does not
  # carry (it is an empty placeholder): it comes from the last tritonclient wheel that bundles
  # it, with the CUDA runtime library it links against (also from PyPI; no GPU is used)
  py=$peersdir/venv/bin/python
  if [ -x "$py" ] && ! "$py" -c 'import tritonclient.http, nvidia.cuda_runtime' 2>/dev/null; then
    "$py" -m pip install -q --disable-pip-version-check --retries 1 --timeout 30 'tritonclient[http]' \
      nvidia-cuda-runtime-cu12 >"$peersdir/pip-serving.log" 2>&1 ||
      echo "deps: PyPI not reachable here: no tritonclient (see $peersdir/pip-serving.log)"
  fi
  if [ -x "$py" ] && [ ! -x "$peersdir/bin/perf_analyzer" ]; then
    mkdir -p "$peersdir/bin" "$peersdir/wheels"
    if "$py" -m pip download -q --disable-pip-version-check --retries 1 --timeout 30 --no-deps \
         tritonclient==2.41.0 -d "$peersdir/wheels" >>"$peersdir/pip-serving.log" 2>&1; then
      (cd "$peersdir/bin" && "$py" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
open("perf_analyzer.bin", "wb").write(z.read("tritonclient-2.41.0.data/data/bin/perf_analyzer"))' \
        "$peersdir/wheels/tritonclient-2.41.0-py3-none-manylinux1_x86_64.whl")
      chmod +x "$peersdir/bin/perf_analyzer.bin"
      cudart=$("$py" -c 'import nvidia.cuda_runtime, os; print(os.path.join(list(nvidia.cuda_runtime.__path__)[0], "lib"))')
      printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
        "$cudart" "$peersdir/bin/perf_analyzer.bin" >"$peersdir/bin/perf_analyzer"
      chmod +x "$peersdir/bin/perf_analyzer"
    else
      echo "deps: PyPI not reachable here: no perf_analyzer (see $peersdir/pip-serving.log)"
    fi
  fi
fi

# The newest ONNX and today's exporters, from PyPI, pinned so that the suite and the expected
# passes (tests/conformance/newest/) stay in step; raise the pins together with that list.
onnx_pins=(onnx==1.23.2 ml_dtypes==0.7.0 numpy==2.4.6 protobuf==7.36.2)
exporter_pins=(torch==2.15.0 torchvision==0.29.2 onnxscript==0.7.2)
if [ $suite = 1 ]; then
  dir=${TETHER_ONNX_DIR:-$HOME/.cache/tether-onnx}
  venv=$dir/venv
  mkdir -p "$dir"
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  pins=("${onnx_pins[@]}")
  [ $exporters = 1 ] && pins+=("${exporter_pins[@]}")
  # pip is slow even when everything is there: ask it only when a pin is missing
  missing=$("$venv/bin/python" - "${pins[@]}" <<'PY'
import sys
from importlib import metadata
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have is None or have.split("+")[0] != want:
        print(pin)
PY
)
  if [ -n "$missing" ]; then
    echo "deps: installing from PyPI into $venv: $(echo $missing)"
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install -q --disable-pip-version-check $missing >"$dir/pip.log" 2>&1 ||
      { echo "deps: pip failed (is PyPI reachable?), see $dir/pip.log" >&2; exit 1; }
  fi
  # the suite is regenerated when onnx or the generator changes
  stamp="$("$venv/bin/python" -c 'import onnx, ml_dtypes; print(onnx.__version__, ml_dtypes.__version__)') $(sha256sum "$here/scripts/onnx_suite.py" | cut -c1-16)"
  if [ ! -f "$dir/suite/STAMP" ] || [ "$(cat "$dir/suite/STAMP")" != "$stamp" ]; then
    echo "deps: writing the ONNX backend test suite to $dir/suite"
    "$venv/bin/python" "$here/scripts/onnx_suite.py" "$dir/suite"
    echo "$stamp" >"$dir/suite/STAMP"
  fi
  echo "deps: onnx $(cat "$dir/suite/VERSION") suite in $dir/suite"
fi
