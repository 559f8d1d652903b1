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
# The layout's goals: no source file over 500 lines, no import cycle between files.
python scripts/layout.py
python tests/scripts/layout_test.py

step "template checks"
cfn-lint template.yaml
sam validate --lint --template template.yaml
python scripts/stack.py check-routes
# What the emulators cannot show (loop detection, asynchronous failures, alarms): checked
# on the template, and each rule shown to catch its fix undone.
python scripts/stack.py check-template
python tests/scripts/template_checks_test.py
python tests/scripts/deploy_test.py
python tests/scripts/sqs_emulator_test.py

step "unit tests"
cargo test --workspace --locked --exclude hookline-tests

step "building the functions and the end-to-end test binary"
e2e_bin=$(build_e2e)

step "starting DynamoDB Local, the SQS emulator and the API"
start_test_stack

step "end-to-end tests against $HOOKLINE_API_URL"
if ! "$e2e_bin" --test-threads 4; then
  show_logs
  exit 1
fi
step "an alert to 10,000 webhooks, alone: its messages slow the SQS emulator for any test beside it"
if ! "$e2e_bin" --ignored --exact scale::an_alert_reaches_ten_thousand_webhooks --nocapture; then
  show_logs
  exit 1
fi
step "the portal in headless Chromium (Playwright)"
if ! python tests/portal/portal_test.py; then
  show_logs
  exit 1
fi
step "fuzzing every operation of openapi.yaml with schemathesis"
# A fresh account, so that "a refused request stores nothing" can be checked by reading
# its partition before and after each call; the trigger stops so that no delivery writes
# in the background meanwhile.
kill "$TRIGGER_PID"
admin() { AWS_ACCESS_KEY_ID=hooklineadmin target/debug/hookline-admin --table "$TABLE_NAME" "$@"; }
fuzz_account=$(admin create-account --name fuzz | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')
fuzz_token=$(admin create-token --account "$fuzz_account" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
fuzz() {
  HOOKLINE_FUZZ_ACCOUNT=$fuzz_account PYTHONPATH=tests/fuzz SCHEMATHESIS_HOOKS=hookline_hooks \
    schemathesis --config-file tests/fuzz/schemathesis.toml run openapi.yaml \
    --url "$HOOKLINE_API_URL" -H "Authorization: Bearer $fuzz_token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,refused_requests_store_nothing \
    --max-examples "${HOOKLINE_FUZZ_EXAMPLES:-10}" --seed "${HOOKLINE_FUZZ_SEED:-20261123}" \
    --workers 1 --request-timeout 20 --no-color
}
fuzz || { show_logs; exit 1; }

step "no function panicked or was replaced unbidden"
check_functions_ran_clean || { show_logs; exit 1; }

step "every AWS call against its function's policy in template.yaml"
# The admin tool's other commands too, on a spare token, so its documented policy is tried.
spare=$(admin create-token --account "$fuzz_account" --scope webhook-readonly | python3 -c 'import json,sys; print(json.load(sys.stdin)["token_id"])')
admin list-tokens --account "$fuzz_account" >/dev/null
admin revoke-token --account "$fuzz_account" --token-id "$spare" >/dev/null
admin set-quota --account "$fuzz_account" --webhook-quota 40 >/dev/null
python scripts/stack.py check-permissions --calls "$AWS_CALLS"

step "all checks passed"
