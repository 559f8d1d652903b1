#!/usr/bin/env bash
# Runs the whole Hookline service on this machine, without Docker: installs what is
# missing, starts DynamoDB Local (persistent, in .data/) and the SQS emulator, creates
# the tables and queues of template.yaml, makes a demo account and token, and serves
# every route with `cargo lambda watch`. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LOGS="$ROOT/.run/logs"
mkdir -p "$LOGS"
API_PORT=${HOOKLINE_API_PORT:-9000}
DYNAMODB_PORT=${HOOKLINE_DYNAMODB_PORT:-8000}
SQS_PORT=${HOOKLINE_SQS_PORT:-9324}
trap stop_stack EXIT
trap 'echo; echo "stopping..."; exit 130' INT TERM

for port in "$API_PORT" "$DYNAMODB_PORT" "$SQS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use; set HOOKLINE_API_PORT, HOOKLINE_DYNAMODB_PORT or HOOKLINE_SQS_PORT" >&2
    exit 1
  fi
done

echo "==> installing tools (first run only)"
"$ROOT/scripts/install-tools.sh"
echo "==> building"
cargo build --workspace
echo "==> starting DynamoDB Local (data in .data/dynamodb) and the SQS emulator"
start_dynamodb "$DYNAMODB_PORT" "$ROOT/.data/dynamodb"
start_sqs "$SQS_PORT"
provision
# The data key sealing credentials outlives this run's KMS key (moto keeps no state).
python scripts/stack.py keep-data-key --dynamodb "$AWS_ENDPOINT_URL_DYNAMODB" \
  --kms "$AWS_ENDPOINT_URL_KMS" --table "$TABLE_NAME" --key-id "$DATA_KEY_ID" \
  --file "$ROOT/.data/data-key" --admin "$ROOT/target/debug/hookline-admin"
# CloudWatch alarm changes (events/ingest-cloudwatch.json) raise alerts in the demo account.
export CLOUDWATCH_ACCOUNT_ID=demo
# Deliveries may reach this machine (a receiver on localhost), and nothing else private.
export ALLOWED_CIDRS="${ALLOWED_CIDRS:-127.0.0.0/8,::1/128}"

admin="$ROOT/target/debug/hookline-admin"
"$admin" create-account --id demo --name "Demo account" >/dev/null 2>&1 || true # kept from an earlier run
token=$("$admin" create-token --account demo --label "dev.sh $(date -u +%FT%TZ)" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

echo "==> starting the API (cargo lambda watch)"
start_api "$API_PORT"
start_trigger

cat <<BANNER

  Hookline is running.

  API          $HOOKLINE_API_URL   (every route of template.yaml)
  DynamoDB     $AWS_ENDPOINT_URL_DYNAMODB   table $TABLE_NAME
  SQS          $AWS_ENDPOINT_URL_SQS   (delivery queue -> deliver, alerts queue -> ingest-queue)
  logs         $LOGS/
  ALLOWED_CIDRS=$ALLOWED_CIDRS: deliveries may reach these non-public addresses
               (for local receivers; in AWS the AllowedCidrs parameter is empty)
  demo token   $token
               (account "demo", scope "webhook"; printed only now, stored only as a hash)

  Try:
    export HOOKLINE_TOKEN=$token
    curl -s $HOOKLINE_API_URL/webhooks -H "Authorization: Bearer \$HOOKLINE_TOKEN" \\
      -H 'Content-Type: application/json' \\
      -d '{"name": "My endpoint", "url": "https://example.com/hooks"}'

  Send an alert to every matching webhook:
    curl -s $HOOKLINE_API_URL/alerts -H "Authorization: Bearer \$HOOKLINE_TOKEN" \\
      -H 'Content-Type: application/json' -d '{"type": "cpu_high", "message": "CPU at 92%"}'

  Admin tool (same environment):
    TABLE_NAME=$TABLE_NAME AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB \\
      DATA_KEY_ID=$DATA_KEY_ID AWS_ENDPOINT_URL_KMS=$AWS_ENDPOINT_URL_KMS \\
      AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=$AWS_REGION \\
      target/debug/hookline-admin list-tokens --account demo

  Press Ctrl-C to stop everything.
BANNER
wait "${STACK_PIDS[-1]}"
