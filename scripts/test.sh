#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs what is missing, starts its own
# emulators and API on free ports, and stops them afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LOGS=$(mktemp -d -t hookline-test-XXXX)
trap stop_stack EXIT
started=$SECONDS
step() { printf '\n==> %s (%ss)\n' "$*" "$((SECONDS - started))"; }

step "installing tools"
"$ROOT/scripts/install-tools.sh"

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "template checks"
cfn-lint template.yaml
sam validate --lint --template template.yaml
python scripts/stack.py check-routes

step "unit tests"
cargo test --workspace --locked --exclude hookline-tests

step "building the functions and the end-to-end test binary"
cargo build --workspace --locked
# The end-to-end binary, built now and run below once the stack is up.
e2e_bin=$(cargo test -p hookline-tests --locked --no-run --message-format=json \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "hookline_tests":
        print(m["executable"])')

step "starting DynamoDB Local, the SQS emulator and the API"
start_dynamodb "$(free_port)"
start_sqs "$(free_port)"
provision
# A short retry schedule and lease, so retries, exhaustion and crash recovery take seconds.
# The lease outlasts an attempt (10 s), and the visibility timeout the lease.
export RETRY_SCHEDULE=1s,1s DELIVERY_LEASE=12s
# The test receivers listen on 127.0.0.1; every other private range stays refused.
export ALLOWED_CIDRS=127.0.0.0/8
start_api "$(free_port)"
export HOOKLINE_FUNCTIONS_LOG="$LOGS/functions.log"
start_trigger --visibility-timeout 15

step "end-to-end tests against $HOOKLINE_API_URL"
if ! "$e2e_bin" --test-threads 4; then
  echo "--- functions log (last 80 lines) ---"; tail -80 "$LOGS/functions.log"
  echo "--- supervisor log ---"; tail -20 "$LOGS/supervisor.log"
  echo "--- sqs trigger log (last 20 lines) ---"; tail -20 "$LOGS/sqs-trigger.log"
  exit 1
fi
step "all checks passed"
