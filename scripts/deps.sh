#!/usr/bin/env bash
# Installs everything tether needs from Debian's packages; the one place dependencies are named.
# Idempotent: packages already present are not touched, so it is cheap to call before every build.
# Usage: scripts/deps.sh [--peers]   (--peers also installs the peers for bench/ — ONNX Runtime — and
#                                     KServe's reference clients, tritonclient and perf_analyzer, in their venv)
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

if [ "${1:-}" = "--peers" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  peers=${TETHER_PEERS_DIR:-$HOME/.cache/tether-peers}
  bash "$here/../shared/peers/setup.sh" "$peers"
  # KServe's reference clients, for tests/integration/test_tritonclient.py and bench/serving.sh:
  # tritonclient from PyPI, and perf_analyzer, which PyPI's perf-analyzer package does not
  # carry (it is an empty placeholder): it comes from the last tritonclient wheel that bundles
  # it, with the CUDA runtime library it links against (also from PyPI; no GPU is used)
  py=$peers/venv/bin/python
  if [ -x "$py" ] && ! "$py" -c 'import tritonclient.http, nvidia.cuda_runtime' 2>/dev/null; then
    "$py" -m pip install -q --disable-pip-version-check --retries 1 --timeout 30 'tritonclient[http]' \
      nvidia-cuda-runtime-cu12 >"$peers/pip-serving.log" 2>&1 ||
      echo "deps: PyPI not reachable here: no tritonclient (see $peers/pip-serving.log)"
  fi
  if [ -x "$py" ] && [ ! -x "$peers/bin/perf_analyzer" ]; then
    mkdir -p "$peers/bin" "$peers/wheels"
    if "$py" -m pip download -q --disable-pip-version-check --retries 1 --timeout 30 --no-deps \
         tritonclient==2.41.0 -d "$peers/wheels" >>"$peers/pip-serving.log" 2>&1; then
      (cd "$peers/bin" && "$py" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
open("perf_analyzer.bin", "wb").write(z.read("tritonclient-2.41.0.data/data/bin/perf_analyzer"))' \
        "$peers/wheels/tritonclient-2.41.0-py3-none-manylinux1_x86_64.whl")
      chmod +x "$peers/bin/perf_analyzer.bin"
      cudart=$("$py" -c 'import nvidia.cuda_runtime, os; print(os.path.join(list(nvidia.cuda_runtime.__path__)[0], "lib"))')
      printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
        "$cudart" "$peers/bin/perf_analyzer.bin" >"$peers/bin/perf_analyzer"
      chmod +x "$peers/bin/perf_analyzer"
    else
      echo "deps: PyPI not reachable here: no perf_analyzer (see $peers/pip-serving.log)"
    fi
  fi
fi
