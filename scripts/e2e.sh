#!/usr/bin/env bash
# Runs end-to-end tests on a stack of their own, as scripts/test.sh does, without the
# other checks: `scripts/e2e.sh security::` runs the tests whose names contain that.
# Extra arguments go to the test binary (a name filter, --test-threads N, --nocapture).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LOGS=$(mktemp -d -t hookline-e2e-XXXX)
trap stop_stack EXIT
"$ROOT/scripts/install-tools.sh" >/dev/null
e2e_bin=$(build_e2e)
start_test_stack
echo "stack on $HOOKLINE_API_URL; logs in $LOGS"
if ! "$e2e_bin" --test-threads 4 "$@"; then
  show_logs
  exit 1
fi
