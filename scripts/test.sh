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
# Run the test binary directly: `cargo test` would hold cargo's build lock, which
# `cargo lambda watch` needs to start each function.
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
start_api "$(free_port)"

step "end-to-end tests against $HOOKLINE_API_URL"
if ! "$e2e_bin" --test-threads 4; then
  echo "--- api log (last 60 lines) ---"; tail -60 "$LOGS/api.log"
  exit 1
fi
step "all checks passed"
