#!/usr/bin/env bash
# Everything the CUDA issue asks of a GPU, in one go, on a machine with an NVIDIA GPU, nvcc,
# CMake and PyTorch (the H100/H200 image has them) but none of tether's Debian -dev packages:
#
#   env          the GPU, driver, nvcc, PyTorch seen
#   deps         the build's libraries: the system's where pkg-config finds them, else the
#                .deb files bench/gpu/prepare.sh put in .gpu/debs, unpacked into .gpu/prefix
#   build        a clean build (build-gpu/) with the CUDA plugin for this GPU (sm_native)
#   devices      tether devices --json must list the GPU
#   unit         the unit and integration tests on the GPU (test_backend_ops checks cuda:0,
#                test_cuda_plugin, it_test_cuda: tetherd --device cuda:0, quotas)
#   backend_ops  every CUDA kernel against ref: fp32, fp32 without CUDA graphs, tf32
#   conformance  tether-conformance --backend cuda:0 over the ONNX suite, against the list
#                of tests the CPU passes
#   models       resnet18/50, mobilenet_v2, bert_tiny, gpt_tiny on cuda:0 against PyTorch
#   bench        tether on cuda:0 against PyTorch eager CUDA, batch 1 and 8, fp32 and tf32
#   split        medium/large/xlarge slots of one GPU through tetherd: the 1:2:4 split
#
# usage: bench/gpu_check.sh [STEP...]    (default: every step; deps always runs)
# Results: summary.txt, devices.json, gpu_vs_torch.json and logs.tar.gz (a log per step) in
# $OUT when set (the device tool's; it returns at most 8 files), else bench/out/gpu-DATE/. Environment: CUDA_ARCH (default native), JOBS, RUNS (timed
# runs per bench row, default 30), BUILD (default build-gpu), FORCE_CARRIED_DEPS=1 (use .gpu/
# even where the system has the libraries: to try the carried path on a Debian machine).
# Before sending it to a GPU machine without network: bench/gpu/prepare.sh (fills .gpu/).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/bench/out/gpu-$(date +%Y%m%d-%H%M%S)}
logs=$root/bench/out/gpu-logs
rm -rf "$logs"
mkdir -p "$out" "$logs"
build=${BUILD:-build-gpu}
jobs=${JOBS:-$(nproc)}
runs=${RUNS:-30}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(env build devices unit backend_ops conformance models bench split)
failed=0
t_start=$(date +%s)

want() {
    local s
    for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

# step NAME CMD...: runs CMD with its output in $out/NAME.log; one summary line.
step() {
    local name=$1 t0 rc
    shift
    want "$name" || return 0
    t0=$(date +%s)
    echo "=== $name: $*" | tee -a "$out/summary.txt"
    "$@" >"$logs/$name.log" 2>&1
    rc=$?
    tail -n 15 "$logs/$name.log" | sed 's/^/    /'
    if [ $rc -eq 0 ]; then
        echo "--- $name: ok ($(($(date +%s) - t0)) s)" | tee -a "$out/summary.txt"
    else
        echo "--- $name: FAILED (exit $rc, $(($(date +%s) - t0)) s; see $name.log in logs.tar.gz)" | tee -a "$out/summary.txt"
        failed=$((failed + 1))
    fi
    tail -n 8 "$logs/$name.log" | sed 's/^/      /' >>"$out/summary.txt"
}

# ---- deps: the build's libraries -------------------------------------------------------------
prefix=$root/.gpu/prefix
data=/usr/share/libonnx-testdata/data
have_sys_deps() {
    command -v pkg-config >/dev/null && pkg-config --exists openblas libcjson libssl libcrypto
}
if [ -n "${FORCE_CARRIED_DEPS:-}" ] || ! have_sys_deps; then
    if ! ls "$root"/.gpu/debs/*.deb >/dev/null 2>&1; then
        echo "deps: pkg-config cannot find OpenBLAS, cJSON and OpenSSL here and .gpu/debs is empty:" >&2
        echo "      run bench/gpu/prepare.sh on a Debian machine first and bring .gpu/ along" >&2
        exit 2
    fi
    if [ ! -f "$prefix/.unpacked" ]; then
        rm -rf "$prefix"
        mkdir -p "$prefix"
        for d in "$root"/.gpu/debs/*.deb; do dpkg-deb -x "$d" "$prefix" || exit 2; done
        # .pc files name /usr: point them into the prefix
        find "$prefix" -name '*.pc' -exec sed -i -e "s|^prefix=/usr|prefix=$prefix/usr|" \
            -e "s|^libdir=/usr|libdir=$prefix/usr|" -e "s|^includedir=/usr|includedir=$prefix/usr|" {} +
        # a -dev symlink whose library the prefix lacks (libssl.so → libssl.so.3): the system's
        find "$prefix" -xtype l -name '*.so' | while read -r l; do
            target=$(basename "$(readlink "$l")")
            sys=$(ldconfig -p | awk -v t="$target" '$1 == t {print $NF; exit}')
            [ -n "$sys" ] && ln -sf "$sys" "$l"
        done
        touch "$prefix/.unpacked"
    fi
    lib=$prefix/usr/lib/x86_64-linux-gnu
    export PATH=$prefix/usr/bin:$PATH
    export PKG_CONFIG_PATH=$lib/pkgconfig:$lib/openblas-pthread/pkgconfig:$prefix/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
    export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export CPATH=$prefix/usr/include${CPATH:+:$CPATH}
    data=$prefix/usr/share/libonnx-testdata/data
    echo "deps: using the libraries unpacked in .gpu/prefix" | tee -a "$out/summary.txt"
fi
py=$(command -v python3)
cudnn_root=$("$py" -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))' 2>/dev/null || true)
cublas_root=$("$py" -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null || true)
[ -n "$cudnn_root" ] && [ -d "$cudnn_root/lib" ] && export LD_LIBRARY_PATH=$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[ -n "$cublas_root" ] && [ -d "$cublas_root/lib" ] && export LD_LIBRARY_PATH=$cublas_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH

# ---- steps -----------------------------------------------------------------------------------
env_report() {
    nvidia-smi || true
    nvcc --version
    cmake --version | head -1
    "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
    echo "cuDNN (pip): ${cudnn_root:-none}; cuBLAS (pip): ${cublas_root:-none}"
    git -C "$root" log -1 --format='tether %h %s'
}

do_build() {
    local arch=${CUDA_ARCH:-native}
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES="$arch" \
        ${cudnn_root:+-DTETHER_CUDNN_ROOT="$cudnn_root"} ${cublas_root:+-DTETHER_CUBLAS_ROOT="$cublas_root"} || return 1
    cmake --build "$build" -j "$jobs" || return 1
    test -f "$build/lib/libtether_cuda.so" || { echo "the CUDA plugin was not built (see 'CUDA backend' above)"; return 1; }
}

do_devices() {
    "$build/bin/tether" devices
    "$build/bin/tether" devices --json | tee "$out/devices.json"
    "$py" - "$out/devices.json" <<'PYEOF'
import json, sys
d = {b["name"]: b for b in json.load(open(sys.argv[1]))["backends"]}
if not d["cuda"]["available"]:
    sys.exit("the cuda backend is unavailable: " + d["cuda"]["reason"])
print("cuda devices:", ", ".join(x["name"] for x in d["cuda"]["devices"]))
PYEOF
}

do_unit() {
    (cd "$build" && ctest --output-on-failure -j "$jobs" -L 'unit|integration')
}

do_backend_ops() {
    local rc=0
    echo "## fp32, CUDA graphs on"
    TETHER_TEST_BACKENDS=cuda:0 "$build/bin/test_backend_ops" every_kernel || rc=1
    echo "## fp32, CUDA graphs off"
    TETHER_CUDA_GRAPHS=0 TETHER_TEST_BACKENDS=cuda:0 "$build/bin/test_backend_ops" every_kernel || rc=1
    echo "## tf32"
    TETHER_TEST_PRECISION=tf32 TETHER_TEST_BACKENDS=cuda:0 "$build/bin/test_backend_ops" every_kernel || rc=1
    return $rc
}

do_conformance() {
    local suites=()
    for s in node simple pytorch-converted pytorch-operator; do [ -d "$data/$s" ] && suites+=("$data/$s"); done
    "$build/bin/tether-conformance" --backend cuda:0 -q -j "$jobs" --expect tests/conformance/expected_pass.txt \
        --skip tests/conformance/skip.txt "${suites[@]}"
}

do_models() {
    TETHER_BACKENDS=cuda:0 "$py" tests/models/check_models.py "$build/bin/tether" bench/gpu/export.py "$build/models"
}

do_bench() {
    "$py" bench/gpu/gpu_vs_torch.py --build "$build" --runs "$runs" --batches 1,8 --precisions fp32,tf32 \
        --json "$out/gpu_vs_torch.json"
}

do_split() {
    "$build/bin/bench_fairness" --device cuda:0 --seconds 10
}

want env && env_report >"$logs/env.log" 2>&1 && head -n 40 "$logs/env.log" | sed 's/^/    /'
step build do_build
step devices do_devices
step unit do_unit
step backend_ops do_backend_ops
step conformance do_conformance
step models do_models
step bench do_bench
step split do_split
echo "=== $failed step(s) failed; $(($(date +%s) - t_start)) s in all; results in $out" | tee -a "$out/summary.txt"
tar czf "$out/logs.tar.gz" -C "$logs" .
exit $((failed > 0))
