#!/usr/bin/env bash
# Run on a development machine (Debian 12, network) before bench/gpu_check.sh goes to a GPU
# machine that has nvcc, CMake and PyTorch but none of tether's Debian -dev packages and no
# network. Fills .gpu/ (in .gitignore; pass it along, e.g. the device tool's carry=[".gpu"]):
#   .gpu/debs/   the .deb files of the build's libraries (OpenBLAS, cJSON, OpenSSL headers,
#                pkg-config) and the ONNX conformance data, unpacked there into a prefix;
#   .gpu/peers/  the peers' model builders (../shared/peers/export_models.py).
# usage: bench/gpu/prepare.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=$root/.gpu
mkdir -p "$dest/debs" "$dest/peers"
pkgs=(pkgconf pkgconf-bin pkg-config libpkgconf3
      libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0 libgfortran5 libquadmath0
      libcjson-dev libcjson1 libssl-dev
      libonnx-testdata)
(cd "$dest/debs" && rm -f ./*.deb && apt-get download "${pkgs[@]}" >/dev/null)
cp "$root/../shared/peers/export_models.py" "$dest/peers/"
du -sh "$dest"
ls "$dest/debs"
