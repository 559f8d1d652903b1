#!/usr/bin/env bash
# Prints Hookline's delivery figures (see tests/src/bin/bench/main.rs). Not a test: the
# numbers depend on the machine. Results are kept in BENCHMARKS.md.
# Sections: `scripts/bench.sh throughput`, `payloads`, `cost`; all by default.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LOGS=$(mktemp -d -t hookline-bench-XXXX)
trap stop_stack EXIT
"$ROOT/scripts/install-tools.sh" >/dev/null
cargo build --release --locked -p hookline-tests --bin bench
start_dynamodb "$(free_port)"
start_sqs "$(free_port)"
provision
export ALLOWED_CIDRS=127.0.0.0/8 # the receiver is on loopback
RUST_LOG=warn "$ROOT/target/release/bench" "$@"
