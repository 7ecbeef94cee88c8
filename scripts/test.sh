#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (a Python venv with
# moto's server), starts moto on loopback, runs format, lint and every test, stops moto.
# Needs: Rust (cargo, rustfmt, clippy) and Python 3 with venv. Network: the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# A run from a clean clone gains nothing from incremental compilation, and it doubles the disk used.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

venv=${IPINSIGHTS_TEST_VENV:-$root/.venv-test}
. scripts/venv.sh
mapfile -t requirements < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' scripts/test-requirements.txt)
ensure_venv "$venv" "${requirements[@]}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The demo's build: ipinsights without SageMaker, Athena and Glue (scripts/demo.sh).
cargo clippy -p ipinsights-cli --no-default-features --all-targets --locked -- -D warnings

# The deployment: template.yaml validated by SAM and cfn-lint (own venv, .venv-sam), and the
# Lambda cross-compiled for arm64 as `sam build` does it (cargo-lambda and Zig in .venv-lambda).
./scripts/check-template.sh
./scripts/build-lambda.sh

# moto's server: S3, SQS, Athena, Security Hub, EventBridge and the SageMaker control plane
# on one loopback port.
. scripts/moto.sh
start_moto "$venv"
# The venv's Python (with DuckDB) for the tests that stand in for Athena.
export IPINSIGHTS_TEST_PYTHON=$venv/bin/python
unset AWS_PROFILE AWS_SESSION_TOKEN || true

echo "== cargo test"
cargo test --workspace --all-targets --locked
# The demo's build of the CLI: what it leaves out must say so (its own unit tests).
cargo test -p ipinsights-cli --no-default-features --bin ipinsights --locked

# A short coverage-guided fuzzing pass over the committed corpus and the regression inputs
# (cargo-fuzz, installed by the script), every target; the long runs are in fuzz/README.md.
echo "== fuzz smoke"
FUZZ_SECONDS=${FUZZ_SECONDS:-15} ./scripts/fuzz-smoke.sh
