#!/usr/bin/env bash
# The main job on built-in defaults, locally, with no AWS account: simulate a small Security
# Lake, then show the (entity, IPv4) pairs the scorer extracts from it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ipinsights-cli
bin=target/release/ipinsights
out=${1:-demo-lake}
$bin simulate --out "$out"
echo
echo "== distinct (instance, address) pairs, endpoint pairing (first 15 of them):"
$bin pairs "$out" --pairing endpoint --dropped 3 > "$out/pairs.csv"
head -n 15 "$out/pairs.csv"
echo "== all pairs with counts: $out/pairs.csv; ground truth of injected anomalies: $out/ground-truth.json"
