#!/usr/bin/env bash
# prepare benchmark: `ipinsights prepare` on a simulated lake against DuckDB running the same
# extraction SQL (what `prepare --athena` sends to Athena). Builds ipinsights (release), uses
# .venv-bench (DuckDB), simulates 7 days x 3 accounts x VPC_FLOW+ROUTE53 once.
# Usage: bench/run-prepare.sh [ROWS_PER_VPC_OBJECT] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-200000}
runs=${2:-3}
cargo build --release -p ipinsights-cli
venv=.venv-bench
[ -x $venv/bin/python ] || { python3 -m venv $venv; $venv/bin/pip install --quiet pyarrow duckdb; }
out=bench-out/prepare-lake-$rows
if [ ! -d "$out" ]; then
  target/release/ipinsights simulate --out "$out" --estate basic --days 7 --accounts 3 --instances 300 \
    --rows-per-object "$rows" --anomalies 0
fi
bucket=$(find "$out" -maxdepth 1 -type d -name 'aws-*' | head -n1)
$venv/bin/python bench/prepare.py target/release/ipinsights "$bucket" 20260105 20260111 --runs "$runs"
