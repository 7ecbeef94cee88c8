#!/usr/bin/env bash
# The main job on built-in defaults, locally, with no AWS account: `ipinsights demo` simulates
# a Security Lake, prepares training data from its first days, fits the embedded IP Insights
# model, calibrates the threshold for a 1% false-positive rate, then delivers the later days'
# objects through the Lambda's own handler and reports the findings against the ground truth.
# Extra arguments go to `ipinsights demo` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Without the aws-control-plane feature: the SageMaker, Athena and Glue SDKs, which the demo
# never calls, are a third of a cold build. `train`, `deploy` and `--athena` say so if asked.
cargo build --profile demo -p ipinsights-cli --no-default-features
exec target/demo/ipinsights demo "$@"
