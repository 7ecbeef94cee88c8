#!/usr/bin/env bash
# A short fuzzing pass: builds the cargo-fuzz targets in fuzz/ and runs each one for a few
# seconds over the committed seed corpus (fuzz/corpus/<target>) and the minimized crash inputs
# kept as regressions (fuzz/regressions/<target>). Fails on any crash, timeout or OOM.
#
#   scripts/fuzz-smoke.sh                 # every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz-smoke.sh lake_key wire_request
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh parquet_object   # a longer run of one target
#
# Stable toolchain only: cargo-fuzz needs nightly flags, so RUSTC_BOOTSTRAP=1 is set for it.
# No sanitizer (the code under test is safe Rust; ASan would halve the speed), but debug
# assertions and overflow checks are on. New inputs go to a temporary directory, so the
# committed corpus is left as it is; a crash input is kept under fuzz/artifacts/<target>/.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    nice -n 15 cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

export RUSTC_BOOTSTRAP=1
# The same flags for build and run, or `cargo fuzz run` rebuilds.
build_flags=(-O -a --sanitizer none --codegen-units 16)

# Per-target input size limits (bytes).
declare -A max_len=(
    [notification]=16384
    [lake_key]=4096
    [parquet_object]=65536
    [parquet_footer]=32768
    [wire_request]=16384
    [wire_predictions]=16384
)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=(notification lake_key parquet_object parquet_footer wire_request wire_predictions); fi
for t in "${targets[@]}"; do
    [ -n "${max_len[$t]:-}" ] || { echo "unknown target $t" >&2; exit 2; }
done

start=$SECONDS
nice -n 15 cargo fuzz build "${build_flags[@]}"
echo "build: $((SECONDS - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "artifacts/$t"
    inputs=("corpus/$t")
    [ -d "regressions/$t" ] && inputs+=("regressions/$t")
    echo "== $t: ${FUZZ_SECONDS} s"
    if ! nice -n 15 cargo fuzz run "${build_flags[@]}" "$t" "$work/$t" "${inputs[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len="${max_len[$t]}" -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" 2>"$work/$t.log"; then
        tail -n 60 "$work/$t.log" >&2
        failed+=("$t")
    fi
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "$work/$t.log" || true
done
echo "total: $((SECONDS - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs under fuzz/artifacts/<target>/)" >&2
    echo "fuzz-smoke: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
    exit 1
fi
echo "fuzz-smoke: ${#targets[@]} passed, 0 failed"
