#!/usr/bin/env bash
# Builds Hookline and deploys it to AWS as a CloudFormation stack, without questions:
#
#   scripts/deploy.sh --stack NAME [--region REGION] [Param=Value ...]
#
# Param=Value sets a parameter of template.yaml (README: Deploying), e.g.
# AlarmTopicArn=arn:aws:sns:... PublicBaseUrl=https://hooks.example.com.
# --dry-run prints the commands it would run and runs none (nothing is built either);
# --guided runs `sam deploy --guided` instead (it asks about each setting);
# --no-build deploys what .aws-sam/build holds. The AWS credentials are the usual ones
# (environment, profile, SSO). It ends by printing the API and portal URLs and the first
# hookline-admin commands.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
fail() {
  echo "deploy: $*" >&2
  exit 2
}

stack="" region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" dry_run=false guided=false build=true
overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) [ $# -ge 2 ] && [[ $2 != -* ]] || fail "--stack needs a name"; stack=$2; shift 2 ;;
    --stack=*) stack=${1#--stack=}; shift ;;
    --region) [ $# -ge 2 ] && [[ $2 != -* ]] || fail "--region needs a region"; region=$2; shift 2 ;;
    --region=*) region=${1#--region=}; shift ;;
    --dry-run) dry_run=true; shift ;;
    --guided) guided=true; shift ;;
    --no-build) build=false; shift ;;
    -h|--help) usage ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *=*) overrides+=("$1"); shift ;;
    *) fail "$1 is neither an option nor Param=Value (see --help)" ;;
  esac
done
[ -n "$stack" ] || fail "--stack NAME is required (see --help)"
# CloudFormation's rule for stack names.
[[ "$stack" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] ||
  fail "the stack name $stack must start with a letter and hold only letters, digits and hyphens (at most 128)"
[ -z "$region" ] || [[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || fail "$region is not an AWS region"

# Each override must name a parameter of the template.
PYTHON=$( [ -x "$ROOT/.tools/venv/bin/python" ] && echo "$ROOT/.tools/venv/bin/python" || echo python3)
if [ ${#overrides[@]} -gt 0 ]; then
  known=$("$PYTHON" -c 'import re, sys
text = open(sys.argv[1]).read().split("\nConditions:")[0]
print(" ".join(re.findall(r"^  ([A-Za-z0-9]+):$", text, re.M)))' template.yaml)
  for pair in "${overrides[@]}"; do
    name=${pair%%=*}
    [[ " $known " == *" $name "* ]] || fail "$name is not a parameter of template.yaml (they are: $known)"
  done
fi

region_args=()
[ -z "$region" ] || region_args=(--region "$region")
deploy=(sam deploy --template-file .aws-sam/build/template.yaml --stack-name "$stack" "${region_args[@]}")
if $guided; then
  deploy+=(--guided)
else
  deploy+=(--resolve-s3 --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
    --no-confirm-changeset --no-fail-on-empty-changeset)
  [ ${#overrides[@]} -eq 0 ] || deploy+=(--parameter-overrides "${overrides[@]}")
fi
outputs=(sam list stack-outputs --stack-name "$stack" "${region_args[@]}" --output json)

if $dry_run; then
  $build && echo "would run: scripts/build-aws.sh"
  printf 'would run:'; printf ' %q' "${deploy[@]}"; echo
  printf 'would run:'; printf ' %q' "${outputs[@]}"; echo
  exit 0
fi

"$ROOT/scripts/install-tools.sh" >/dev/null
export PATH="$ROOT/.tools/venv/bin:$PATH" SAM_CLI_TELEMETRY=0
$build && "$ROOT/scripts/build-aws.sh"
"${deploy[@]}"
"${outputs[@]}" | "$PYTHON" -c 'import json, sys
out = {o["OutputKey"]: o["OutputValue"] for o in json.load(sys.stdin)}
print(f"""
Hookline is deployed.

  API     {out["ApiUrl"]}
  portal  {out["PortalUrl"]}

First account and token (with these AWS credentials; admin/iam-policy.json lists what
hookline-admin needs):

  export TABLE_NAME={out["TableName"]} DATA_KEY_ID={out["DataKeyId"]}
  cargo run -q -p hookline-admin -- create-account --name "My team" --id team
  cargo run -q -p hookline-admin -- create-token --account team
  cargo run -q -p hookline-admin -- portal-link --account team --base-url {out["ApiUrl"]}
""")'
