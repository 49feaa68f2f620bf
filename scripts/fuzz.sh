#!/usr/bin/env bash
# Fuzzes Seatflow's SCIM protocol code with cargo-fuzz (libFuzzer), each target for a bounded
# time, and fails if any target crashes (a panic, a failed invariant, a hang or running out of
# memory). Targets (fuzz/fuzz_targets/): `filter` (the filter parser, printing and evaluation),
# `patch` (PatchOp messages applied to a user and a group) and `resource` (POST/PUT bodies of
# users and groups, rendered and read back).
#
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh patch filter    only these
#   SEATFLOW_FUZZ_SECONDS=600 scripts/fuzz.sh
#
# Settings: SEATFLOW_FUZZ_SECONDS (per target, default 60), SEATFLOW_FUZZ_SANITIZER (`none`, the
# default: the code under test is safe Rust, so libFuzzer's panic detection is what matters and
# runs several times faster without ASan; or `address`). A crash leaves its input in
# fuzz/artifacts/TARGET/; replay it with `cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…`
# (same environment), then add it as a unit test next to the code that crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${SEATFLOW_FUZZ_SECONDS:-60}"
sanitizer="${SEATFLOW_FUZZ_SANITIZER:-none}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(filter patch resource)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing; installing it" >&2
  cargo install cargo-fuzz --locked
fi
# libFuzzer's coverage instrumentation needs -Z compiler flags. RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them (no nightly needed); on nightly it changes nothing.
export RUSTC_BOOTSTRAP=1
# -a: debug assertions (overflow checks) on, as in the tests.
fuzz=(cargo fuzz run --sanitizer "$sanitizer" --debug-assertions)

failed=()
for target in "${targets[@]}"; do
  case "$target" in
    filter) dict=fuzz/dicts/filter.dict; max_len=5000 ;;  # past the 4096-byte filter limit
    patch | resource) dict=fuzz/dicts/json.dict; max_len=8192 ;;
    *) echo "unknown fuzz target '$target' (filter, patch, resource)" >&2; exit 2 ;;
  esac
  mkdir -p "fuzz/corpus/$target"
  log="fuzz/artifacts/$target.log"
  mkdir -p fuzz/artifacts
  echo "== fuzzing $target for ${seconds}s"
  # The first corpus directory collects new inputs (not committed); seeds/ are Entra's shapes.
  if "${fuzz[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
      -dict="$dict" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    echo "   ok: ${runs:-?} executions, ${speed:-?}/s, corpus $corpus inputs"
  else
    echo "   CRASH in $target (log: $log):" >&2
    grep -E "panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to" "$log" | head -n 8 >&2 || tail -n 30 "$log" >&2
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing passed: ${targets[*]}"
