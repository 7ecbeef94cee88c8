#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (a Python venv with
# moto's server), starts moto on loopback, runs format, lint and every test, stops moto.
# Needs: Rust (cargo, rustfmt, clippy) and Python 3 with venv. Network: the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

venv=${IPINSIGHTS_TEST_VENV:-$root/.venv-test}
. scripts/venv.sh
mapfile -t requirements < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' scripts/test-requirements.txt)
ensure_venv "$venv" "${requirements[@]}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The deployment: template.yaml validated by SAM and cfn-lint (own venv, .venv-sam), and the
# Lambda cross-compiled for arm64 as `sam build` does it (cargo-lambda and Zig in .venv-lambda).
./scripts/check-template.sh
./scripts/build-lambda.sh

# moto's server: S3, SQS, Athena and the SageMaker control plane on one loopback port.
log=$(mktemp)
"$venv/bin/moto_server" -H 127.0.0.1 -p 0 2>"$log" &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; rm -f "$log"' EXIT
port=
for _ in $(seq 1 200); do
  port=$(sed -n 's|.*Running on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -n1)
  [ -n "$port" ] && break
  kill -0 $moto_pid 2>/dev/null || { cat "$log"; echo "moto_server died"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "moto_server did not start"; exit 1; }
echo "== moto_server on 127.0.0.1:$port"

export MOTO_ENDPOINT=http://127.0.0.1:$port
export AWS_ENDPOINT_URL=$MOTO_ENDPOINT
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
# The venv's Python (with DuckDB) for the tests that stand in for Athena.
export IPINSIGHTS_TEST_PYTHON=$venv/bin/python
unset AWS_PROFILE AWS_SESSION_TOKEN || true

echo "== cargo test"
cargo test --workspace --all-targets --locked
