#!/usr/bin/env bash
# Installs everything tether needs from Debian's packages; the one place dependencies are named.
# Idempotent: packages already present are not touched, so it is cheap to call before every build.
# Usage: scripts/deps.sh [--peers]   (--peers also installs ONNX Runtime through npm for bench/)
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git
  libdnnl-dev libopenblas-dev
  libssl-dev libcurl4-openssl-dev libcjson-dev libmicrohttpd-dev zlib1g-dev
  etcd-server
  libonnx-testdata python3 python3-numpy python3-onnx python3-pytest python3-venv python3-pip python3-setuptools python3-wheel
  python3-torch python3-torchvision
  clang libclang-rt-14-dev
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
  bash "$here/../shared/peers/setup.sh" "${TETHER_PEERS_DIR:-$HOME/.cache/tether-peers}"
fi
