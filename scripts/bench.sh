#!/usr/bin/env bash
# Prints Hookline's delivery figures (see tests/src/bin/bench/main.rs). Not a test: the
# numbers depend on the machine. Results are kept in BENCHMARKS.md.
# Sections: `scripts/bench.sh throughput`, `payloads`, `cost`, `heat` (HEAT_ALERTS and
# HEAT_WEBHOOKS size its storm), `storm`; all by default.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LOGS=$(mktemp -d -t hookline-bench-XXXX)
trap stop_stack EXIT
"$ROOT/scripts/install-tools.sh" >/dev/null
# The bench runs the deliver function's code in-process; users' templates render in a
# child of the deliver binary beside it.
cargo build --release --locked -p hookline-tests --bin bench -p hookline-functions --bin deliver \
  -p hookline-admin --bin hookline-admin
start_dynamodb "$(free_port)"
start_sqs "$(free_port)"
provision
"$ROOT/target/release/hookline-admin" --table "$TABLE_NAME" create-data-key >/dev/null
export ALLOWED_CIDRS=127.0.0.0/8 # the receiver is on loopback
RUST_LOG=warn "$ROOT/target/release/bench" "$@"
