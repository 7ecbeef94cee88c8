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
log=$(mktemp)
"$venv/bin/moto_server" -H 127.0.0.1 -p 0 2>"$log" &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; rm -f "$log"' EXIT
port=
for _ in $(seq 1 200); do
  port=$(sed -n 's|.*Running on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -n1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$log"; exit 1; }
export MOTO_ENDPOINT=http://127.0.0.1:$port AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
export IPCHECK_BIN=$PWD/target/release/ipcheck IPCHECK_LOAD_MESSAGES=$messages
cargo test -p ipcheck --test queue load_many_notifications -- --ignored --nocapture
