#!/usr/bin/env bash
# Cross-compiles the ipcheck Lambda for Lambda's arm64 (Graviton) runtime, as `sam build` does:
# `cargo lambda build --release --arm64 --bin ipcheck`, linked through Zig, no Docker.
# Installs pinned cargo-lambda and ziglang from PyPI into .venv-lambda (the cargo-lambda wheel
# ships a prebuilt binary; Zig/cargo-zigbuild version skew has broken builds before, so both are
# pinned). Prints the artifact's path and size.
# Needs: Rust with the aarch64-unknown-linux-gnu std (added through rustup when rustup exists)
# and Python 3 with venv. Network: PyPI (and rustup's dist server for the target) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cargo_lambda_version=1.9.2
ziglang_version=0.17.1
venv=${IPINSIGHTS_LAMBDA_VENV:-$root/.venv-lambda}
. scripts/venv.sh
ensure_venv "$venv" "cargo-lambda==$cargo_lambda_version" "ziglang==$ziglang_version"
# cargo-lambda finds Zig as `python3 -m ziglang`, with the first python3 on PATH: the venv's.
export PATH="$venv/bin:$PATH"

if command -v rustup >/dev/null 2>&1; then
  echo "== rustup target add aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi

echo "== cargo lambda build --release --arm64 --bin ipcheck"
start=$(date +%s)
cargo lambda build --release --arm64 --bin ipcheck
end=$(date +%s)

artifact=target/lambda/ipcheck/bootstrap
[ -f "$artifact" ] || { echo "no artifact at $artifact"; exit 1; }
size=$(stat -c %s "$artifact")
echo "built $root/$artifact: $size bytes ($(( (size + 524288) / 1048576 )) MiB), $((end - start)) s"
if command -v file >/dev/null 2>&1; then file "$artifact"; fi
