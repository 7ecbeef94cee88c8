#!/usr/bin/env bash
# Validates the SAM template offline: `sam validate --lint` (SAM's transform plus cfn-lint on the
# transformed template) and `cfn-lint template.yaml` (the template as written).
# Installs the pinned SAM CLI and cfn-lint into their own venv (.venv-sam): SAM CLI pins a boto3
# that conflicts with moto's, so it must not share .venv-test.
# Needs: Python 3 with venv. Network: PyPI on the first run only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

sam_version=1.170.0
cfn_lint_version=1.58.0
venv=${IPINSIGHTS_SAM_VENV:-$root/.venv-sam}
. scripts/venv.sh
ensure_venv "$venv" "aws-sam-cli==$sam_version" "cfn-lint==$cfn_lint_version"

# Offline and quiet: no telemetry, no update check, no credentials or profile needed.
export SAM_CLI_TELEMETRY=0
export SAM_CLI_DISABLE_UPDATE_CHECK=1
export AWS_EC2_METADATA_DISABLED=true

echo "== sam validate --lint"
"$venv/bin/sam" validate --lint --region us-east-1 --template-file template.yaml

echo "== cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml
echo "template.yaml: sam validate --lint and cfn-lint passed"
