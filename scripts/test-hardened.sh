#!/usr/bin/env bash
# The hardened stage: (1) an AddressSanitizer + UndefinedBehaviorSanitizer build (EPC_SANITIZE=ON, gcc) running the
# unit and end-to-end CTest suites, then (2) the libFuzzer targets built with clang (EPC_FUZZ=ON) and each run for
# a bounded time on a copy of its committed seed corpus. Ends with one result line:
#   hardened: sanitizer <N passed, N failed>; fuzzing <N targets, N executions, N s>; RESULT PASS|FAIL
# Environment: FUZZ_SECONDS per target (default 20), ASAN_DIR, FUZZ_DIR (build dirs), HARDENED_SKIP_FUZZ=1,
# HARDENED_SKIP_ASAN=1, JOBS (default 2).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
asan=${ASAN_DIR:-$top/build-asan}
fuzz=${FUZZ_DIR:-$top/build-fuzz}
secs=${FUZZ_SECONDS:-20}
jobs=${JOBS:-2}
status=0
asan_line="skipped"
fuzz_line="skipped"

# ---- 1. sanitizers
if [ "${HARDENED_SKIP_ASAN:-0}" != 1 ]; then
  echo "== hardened: ASan+UBSan build in $asan"
  mkdir -p "$asan"
  # -Werror gates the main build (CMakeLists.txt, CI=true); the sanitizer and fuzz builds' other optimisation
  # levels and compiler add diagnostics of their own, which stay warnings here.
  # Build type "Hardened" has no flags of its own: -O1 -g1 (line tables) keeps the build short and reports readable.
  if cmake -S "$top" -B "$asan" -DCMAKE_BUILD_TYPE=Hardened -DEPC_SANITIZE=ON -DEPC_WERROR=OFF -DEPC_BUILD_BENCH=OFF -DEPC_BUILD_TESTS=ON \
       -DCMAKE_CXX_FLAGS="-O1 -g1" -DCMAKE_C_FLAGS="-O1 -g1" >"$asan/configure.log" 2>&1 \
     && cmake --build "$asan" -j"$jobs" >"$asan/build.log" 2>&1; then
    # Leak checking stays on; halt_on_error makes a sanitizer report fail the test that triggered it.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    log=$asan/ctest-hardened.log
    (cd "$asan" && ctest --output-on-failure --timeout 600 -L 'unit|e2e' -LE 'load|bench' -j"$jobs") 2>&1 | tee "$log"
    summary=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
    total=$(sed -n 's/.*out of \([0-9]*\).*/\1/p' <<<"$summary")
    failed=$(sed -n 's/.*passed, \([0-9]*\) tests failed.*/\1/p' <<<"$summary")
    if [ -z "$total" ]; then
      asan_line="no tests ran"
      status=1
    else
      asan_line="$((total - failed)) passed, $failed failed"
      [ "$failed" = 0 ] || status=1
    fi
  else
    echo "hardened: sanitizer build failed, see $asan/build.log" >&2
    tail -30 "$asan/build.log" >&2 2>/dev/null
    asan_line="build failed"
    status=1
  fi
fi

# ---- 2. fuzzing
if [ "${HARDENED_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== hardened: libFuzzer build in $fuzz"
  flags="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1 -g"
  mkdir -p "$fuzz"
  if CC=clang CXX=clang++ cmake -S "$top" -B "$fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEPC_FUZZ=ON -DEPC_WERROR=OFF -DEPC_SANITIZE=OFF \
       -DEPC_BUILD_BENCH=OFF -DEPC_BUILD_TESTS=ON -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
       -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_MODULE_LINKER_FLAGS="" \
       >"$fuzz/configure.log" 2>&1 \
     && cmake --build "$fuzz" --target fuzzers -j"$jobs" >"$fuzz/build.log" 2>&1; then
    targets=0; execs=0; failed_targets=()
    for bin in "$fuzz"/tests/fuzz/fuzz_*; do
      [ -x "$bin" ] || continue
      name=$(basename "$bin"); t=${name#fuzz_}
      case "$t" in replay_*) continue ;; esac
      targets=$((targets + 1))
      corpus=$fuzz/corpus/$t
      mkdir -p "$corpus" "$fuzz/artifacts/$t"
      cp -n "$top/tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
      [ -d "$top/tests/fuzz/regressions/$t" ] && cp -n "$top/tests/fuzz/regressions/$t"/* "$corpus"/ 2>/dev/null
      log=$fuzz/artifacts/$t/fuzz.log
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$t/" "$corpus" >"$log" 2>&1
      rc=$?
      n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
      execs=$((execs + ${n:-0}))
      if [ $rc != 0 ]; then
        failed_targets+=("$t")
        echo "hardened: fuzz target $t FAILED (rc $rc); reproducer(s) in $fuzz/artifacts/$t/:" >&2
        ls "$fuzz/artifacts/$t/" >&2
        grep -m5 -E 'ERROR|invariant failed|SUMMARY' "$log" >&2
      else
        echo "fuzz $t: ${n:-0} executions in ${secs}s, corpus $(ls "$corpus" | wc -l) inputs"
      fi
    done
    fuzz_line="$targets targets, $execs executions, ${secs}s each, ${#failed_targets[@]} failed"
    [ ${#failed_targets[@]} = 0 ] && [ $targets -gt 0 ] || status=1
  else
    echo "hardened: fuzz build failed, see $fuzz/build.log" >&2
    tail -30 "$fuzz/build.log" >&2 2>/dev/null
    fuzz_line="build failed"
    status=1
  fi
fi

result=PASS; [ $status = 0 ] || result=FAIL
echo "hardened: sanitizer $asan_line; fuzzing $fuzz_line; RESULT $result"
exit $status
