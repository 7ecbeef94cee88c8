#!/usr/bin/env bash
# Pair-extraction benchmark: builds ipinsights (release), installs pyarrow and DuckDB into
# .venv-bench, simulates a 1,000,000-row VPC Flow object (ZSTD, 128k-row groups) and runs
# bench/pairs.py on it. Usage: bench/run-pairs.sh [ROWS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
runs=${2:-7}
cargo build --release -p ipinsights-cli
venv=.venv-bench
[ -x $venv/bin/python ] || { python3 -m venv $venv; $venv/bin/pip install --quiet pyarrow duckdb; }
out=bench-out/lake-$rows
if [ ! -d "$out" ]; then
  target/release/ipinsights simulate --out "$out" --estate basic --days 1 --accounts 1 --instances 2000 --sources VPC_FLOW \
    --versions 1.0 --rows-per-object "$rows" --compression zstd --row-group-rows 131072 --anomalies 0
fi
file=$(find "$out" -name '*.parquet' | head -n1)
$venv/bin/python bench/pairs.py "$file" --runs "$runs" --pairing "${PAIRING:-initiator}"
