#!/usr/bin/env bash
# Load run of the queue and the function together: builds ipcheck (release), starts moto on
# loopback, and runs the ignored `load_many_notifications` scenario (functions/ipcheck/tests/
# queue.rs) with the release binary behind the Runtime API emulator. With --throttle SECONDS it
# runs the endpoint-outage scenario instead, with the outage that long (the test command runs
# it at 20 s).
# Usage: bench/run-queue.sh [MESSAGES]          (default 10000)
#        bench/run-queue.sh --throttle SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
throttle=
if [ "${1:-}" = "--throttle" ]; then
    throttle=${2:?--throttle takes seconds}
    set --
fi
messages=${1:-10000}
venv=${IPINSIGHTS_TEST_VENV:-$PWD/.venv-test}
. scripts/venv.sh
mapfile -t requirements < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' scripts/test-requirements.txt)
ensure_venv "$venv" "${requirements[@]}"
cargo build --release -p ipcheck --bin ipcheck
. scripts/moto.sh
start_moto "$venv"
export IPCHECK_BIN=$PWD/target/release/ipcheck
if [ -n "$throttle" ]; then
    export IPCHECK_THROTTLE_SECONDS=$throttle
    cargo test -p ipcheck --test queue \
        an_endpoint_that_throttles_for_minutes_then_times_out_loses_nothing -- --exact --nocapture
    exit
fi
export IPCHECK_LOAD_MESSAGES=$messages
cargo test -p ipcheck --test queue load_many_notifications -- --ignored --nocapture
