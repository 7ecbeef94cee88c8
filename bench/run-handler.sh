#!/usr/bin/env bash
# Handler benchmark: builds ipinsights and the bench_handler example (release), installs
# pandas, boto3 and moto into .venv-bench, simulates a 1,000,000-row VPC Flow object and runs
# bench/handler.py. Usage: bench/run-handler.sh [ROWS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
runs=${2:-5}
cargo build --release -p ipinsights-cli
cargo build --release -p ipcheck --example bench_handler
venv=.venv-bench
[ -x $venv/bin/python ] || python3 -m venv $venv
$venv/bin/python -c 'import pandas, boto3, pyarrow, moto' 2>/dev/null ||
  $venv/bin/pip install --quiet pyarrow duckdb pandas boto3 'moto[server]==5.2.5'
out=bench-out/lake-$rows
if [ ! -d "$out" ]; then
  target/release/ipinsights simulate --out "$out" --estate basic --days 1 --accounts 1 --instances 2000 --sources VPC_FLOW \
    --versions 1.0 --rows-per-object "$rows" --compression zstd --row-group-rows 131072 --anomalies 0
fi
file=$(find "$out" -name '*.parquet' | head -n1)
$venv/bin/python bench/handler.py "$file" --runs "$runs"
