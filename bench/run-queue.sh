#!/usr/bin/env bash
# Load run of the queue and the function together: builds ipcheck (release), starts moto on
# loopback, and runs the ignored `load_many_notifications` scenario (functions/ipcheck/tests/
# queue.rs) with the release binary behind the Runtime API emulator.
# Usage: bench/run-queue.sh [MESSAGES]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-10000}
venv=${IPINSIGHTS_TEST_VENV:-$PWD/.venv-test}
. scripts/venv.sh
mapfile -t requirements < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' scripts/test-requirements.txt)
ensure_venv "$venv" "${requirements[@]}"
cargo build --release -p ipcheck --bin ipcheck
. scripts/moto.sh
start_moto "$venv"
export IPCHECK_BIN=$PWD/target/release/ipcheck IPCHECK_LOAD_MESSAGES=$messages
cargo test -p ipcheck --test queue load_many_notifications -- --ignored --nocapture
