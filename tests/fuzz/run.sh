#!/bin/sh
# Fuzzes the model loader, the wire protocol's frame decoder and the executor's index arithmetic,
# for SECONDS each, then tetherd's KServe request parser for SECONDS/2, then the parsers of
# files people hand to tether (tetherd's config and keys files, .npy/.npz arrays, the
# advisor's tables and prices, the attachment records, the fleet's records in etcd, etcd's
# gRPC replies and the fleet's view file) for a quarter of SECONDS each (at least
# 5 s): builds the libFuzzer targets into build-fuzz/ (clang,
# -DTETHER_FUZZ=ON), makes a seed corpus from the ONNX test models and their test data plus
# synthetic seeds and the seeds kept in tests/fuzz/seeds/ (among them every input that once
# found a bug), and runs. Exits non-zero on any finding (crash, sanitizer report, leak,
# timeout, out-of-memory); the inputs that caused them are left in build-fuzz/findings/.
# Wall time: about 4.5 x SECONDS plus the build.
#
#   tests/fuzz/run.sh 600                 # ten minutes
#   JOBS=4 tests/fuzz/run.sh 60           # build with 4 jobs
#   tests/fuzz/run.sh 60 -only_ascii=1    # extra arguments go to libFuzzer
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 SECONDS [libFuzzer options...]" >&2
    exit 2
fi
secs=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
testdata=${TETHER_ONNX_TESTDATA:-/usr/share/libonnx-testdata/data/node}

# The project's flags name a few GCC-only options: clang is told to let the warnings pass and
# gets its own optimisation flags (a build type of its own: the project fixes RelWithDebInfo's).
CC=clang cmake -S "$root" -B "$build" -DTETHER_FUZZ=ON -DCMAKE_BUILD_TYPE=Fuzz \
    -DCMAKE_C_FLAGS_FUZZ="-O2 -g" -DCMAKE_C_FLAGS="-Wno-unknown-warning-option" >/dev/null
files_targets="server_files npy advise attach fleet"
cmake --build "$build" -j"${JOBS:-2}" --target fuzz_model_load fuzz_gen_seeds fuzz_frame fuzz_exec fuzz_kserve \
    $(for t in $files_targets; do printf 'fuzz_%s ' "$t"; done) >/dev/null

seeds=$build/corpus/seeds
work=$build/corpus/work
findings=$build/findings
rm -rf "$seeds" "$findings" "$build/tmp"
mkdir -p "$seeds" "$work" "$findings" "$build/tmp"
# temporary files of the targets (fuzz_attach's homes), kept here rather than left in /tmp
export TMPDIR="$build/tmp"

# Real models and test data, named by content so duplicates collapse. Large ones are left
# out: the fuzzer's inputs stay under -max_len.
n=0
for f in "$testdata"/*/model.onnx "$testdata"/*/test_data_set_0/*.pb; do
    [ -f "$f" ] || continue
    [ "$(wc -c <"$f")" -le 65536 ] || continue
    cp "$f" "$seeds/$(sha1sum <"$f" | cut -c1-16)"
    n=$((n + 1))
done
echo "$n seeds from $testdata"
"$build/bin/fuzz_gen_seeds" "$seeds"

# Fork mode keeps going past a finding, so one run reports every problem it meets.
log=$build/fuzz.log
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    nice -n 10 "$build/bin/fuzz_model_load" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$findings/" "$@" "$work" "$seeds" "$root/tests/fuzz/seeds/model_load" >"$log" 2>&1 || true

grep -E '^#[0-9]+' "$log" | tail -1 || true

# The frame decoder: it makes its own seeds (valid frames of every kind) when the corpus is empty.
flog=$build/fuzz-frame.log
mkdir -p "$build/corpus/frame"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    TETHER_FUZZ_SEEDS="$build/corpus/frame" \
    nice -n 10 "$build/bin/fuzz_frame" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$findings/frame-" "$@" "$build/corpus/frame" >"$flog" 2>&1 || true
grep -E '^#[0-9]+' "$flog" | tail -1 || true

# The executor's index arithmetic: one-node models fed int64 edge values; UBSan halts on the
# first report (signed overflow included), so each one is a finding. Its inputs are small structured programs, so no seeds are needed.
elog=$build/fuzz-exec.log
mkdir -p "$build/corpus/exec"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    nice -n 10 "$build/bin/fuzz_exec" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=256 \
    -artifact_prefix="$findings/exec-" "$@" "$build/corpus/exec" >"$elog" 2>&1 || true
grep -E '^#[0-9]+' "$elog" | tail -1 || true

# tetherd's KServe v2 request parser, for half the time (its inputs are small and quick).
klog=$build/fuzz-kserve.log
mkdir -p "$build/corpus/kserve"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    TETHER_FUZZ_SEEDS="$build/corpus/kserve" \
    nice -n 10 "$build/bin/fuzz_kserve" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$(( (secs + 1) / 2 ))" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$findings/kserve-" "$@" "$build/corpus/kserve" >"$klog" 2>&1 || true
grep -E '^#[0-9]+' "$klog" | tail -1 || true

# The file parsers: small inputs, each target seeded from tests/fuzz/seeds/NAME/.
small=$((secs / 4))
[ "$small" -ge 5 ] || small=5
for t in $files_targets; do
    mkdir -p "$build/corpus/$t"
    flog=$build/fuzz-$t.log
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        nice -n 10 "$build/bin/fuzz_$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -max_total_time="$small" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -artifact_prefix="$findings/$t-" "$@" "$build/corpus/$t" "$root/tests/fuzz/seeds/$t" >"$flog" 2>&1 || true
    printf '%s: ' "$t"
    grep -E '^#[0-9]+' "$flog" | tail -1 || echo "(no progress line: see $flog)"
done

rm -rf "$build/tmp"
found=$(find "$findings" -type f | wc -l)
if [ "$found" -ne 0 ]; then
    echo "FUZZING FOUND $found PROBLEM(S): inputs in $findings, details in $log" >&2
    find "$findings" -type f >&2
    exit 1
fi
echo "no findings in ${secs}s (log: $log)"
