#!/usr/bin/env bash
# The full test run, as CI runs it on a fresh Debian machine:
#   1. install dependencies (Debian packages),
#   2. build and run every test (unit, conformance, integration, python) with CTest; the
#      newest ONNX suite (set up here with scripts/deps.sh --onnx-suite where PyPI is
#      reachable) and today's exporters where scripts/deps.sh --exporters has set them up
#      (each skipped, saying why, elsewhere),
#   3. rebuild with AddressSanitizer + UndefinedBehaviorSanitizer and run the unit and
#      integration tests again,
#   4. rebuild with clang's ThreadSanitizer and run them once more (the pthread pool's build),
#   5. fuzz the model loader, the frame decoder, the executor, the KServe request parser and
#      the file parsers for a bounded time (about 3 minutes: TETHER_FUZZ_SECONDS, default 40,
#      per large target).
# The last line is "N passed, N failed, N skipped" over all steps.
# Usage: scripts/check.sh [--quick]   (--quick: skip the sanitizer and fuzz steps)
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
quick=0
[ "${1:-}" = "--quick" ] && quick=1
passed=0 failed=0 skipped=0
log=$(mktemp -d)

step() { printf '\n=== %s\n' "$*"; }

# Adds the counts of a ctest log ("N% tests passed, F tests failed out of T", skips
# listed as "Not Run"/"Skipped") to the totals.
tally_ctest() {
  local f=$1 line total fails skips
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$f" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  fails=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  skips=$(grep -cE '\*\*\*Skipped|Not Run' "$f" || true)
  passed=$((passed + total - fails - skips)); failed=$((failed + fails)); skipped=$((skipped + skips))
}

# ThreadSanitizer over the unit and integration tests, tetherd and the clients they start
# included: each process writes its reports to a file of its own, and every report is a
# failure (a report in a server does not always fail the test that started it). clang's
# TSan cannot map its shadow memory under some kernels' address randomisation: the step
# then runs the tests with randomisation off (setarch -R), as the sanitizer's docs advise.
tsan_step() {
  local tsan="$log/tsan" prefix=()
  mkdir -p "$tsan"
  if ! cmake -S . -B build-tsan -DTETHER_TSAN=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         >"$log/cmake-tsan.log" 2>&1 || ! cmake --build build-tsan -j "$jobs" >"$log/build-tsan.log" 2>&1; then
    tail -40 "$log/cmake-tsan.log" "$log/build-tsan.log"
    echo "TSan build failed" >"$log/ctest-tsan.log"
    return
  fi
  printf 'int main(void) { return 0; }\n' >"$tsan/probe.c"
  clang -fsanitize=thread "$tsan/probe.c" -o "$tsan/probe" 2>/dev/null
  if ! "$tsan/probe" >/dev/null 2>&1 && setarch "$(uname -m)" -R "$tsan/probe" >/dev/null 2>&1; then
    echo "(TSan needs address randomisation off on this kernel: setarch -R)"
    prefix=(setarch "$(uname -m)" -R)
  fi
  (cd build-tsan && TSAN_OPTIONS="suppressions=$PWD/../tests/tsan.supp die_after_fork=0 log_path=$tsan/report" \
     "${prefix[@]}" ctest --output-on-failure -j "$jobs" -L 'unit|integration') 2>&1 |
    tee "$log/ctest-tsan.log" | tail -30
  local reports
  reports=$(grep -l 'WARNING: ThreadSanitizer' "$tsan"/report.* 2>/dev/null | wc -l)
  if [ "$reports" != 0 ]; then
    echo "ThreadSanitizer reported in $reports process(es):"
    grep -h -A12 'WARNING: ThreadSanitizer' "$tsan"/report.* | head -80
    failed=$((failed + reports))
  fi
}

step "dependencies"
bash scripts/deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
# The newest ONNX suite comes from PyPI (a small venv and a generated suite, a few minutes
# the first time); where PyPI is out of reach its test is skipped with the reason.
if [ "${TETHER_NO_ONNX_SUITE:-0}" != 1 ]; then
  bash scripts/deps.sh --onnx-suite || echo "deps: the newest ONNX suite could not be set up (skipped below)"
fi

step "build (build/)"
if cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$log/cmake.log" 2>&1 &&
   cmake --build build -j "$jobs" >"$log/build.log" 2>&1; then
  echo "built"
else
  cat "$log/cmake.log" "$log/build.log" | tail -40
  echo "0 passed, 1 failed, 0 skipped"; exit 1
fi

step "tests (ctest)"
(cd build && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log/ctest.log" | grep -vE '^\s*$' | tail -60
tally_ctest "$log/ctest.log"

if [ $quick = 0 ]; then
  step "sanitizer build (build-asan/): unit and integration tests under ASan+UBSan"
  if cmake -S . -B build-asan -DTETHER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >"$log/cmake-asan.log" 2>&1 &&
     cmake --build build-asan -j "$jobs" >"$log/build-asan.log" 2>&1; then
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
       ctest --output-on-failure -j "$jobs" -L 'unit|integration') 2>&1 | tee "$log/ctest-asan.log" | tail -30
    tally_ctest "$log/ctest-asan.log"
  else
    tail -40 "$log/build-asan.log"; failed=$((failed + 1))
  fi

  step "thread sanitizer build (build-tsan/, clang): unit and integration tests under TSan"
  tsan_step
  tally_ctest "$log/ctest-tsan.log"

  step "fuzzing (bounded)"
  if [ -x tests/fuzz/run.sh ]; then
    if bash tests/fuzz/run.sh "${TETHER_FUZZ_SECONDS:-40}" 2>&1 | tail -20; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  else
    echo "no fuzz targets"; skipped=$((skipped + 1))
  fi
fi

# What failed, and why, last: CI shows only the end of this output.
if [ "$failed" != 0 ]; then
  step "failures"
  for f in "$log"/ctest*.log; do
    [ -f "$f" ] || continue
    grep -qE '^[0-9]+% tests passed, [1-9]' "$f" || continue
    echo "--- $(basename "$f" .log)"
    grep -E '^\s*[0-9]+ - [^ ]+ [(]|^FAIL |^  [^ ]+:[0-9]+: |^  client log: |ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: |Timeout|Exception:|Error:' \
      "$f" | grep -vE '^\s*$' | head -40
  done
fi

rm -rf "$log"
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
