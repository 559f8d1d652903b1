# Shared by dev.sh and test.sh: start the local AWS stack without Docker.
# Every process started here is recorded and stopped by stop_stack.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
STACK_PIDS=()

# Dummy credentials: the emulators accept any, and nothing here may reach AWS.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export SAM_CLI_TELEMETRY=0
export PATH="$TOOLS/venv/bin:$PATH"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT NAME [SECONDS]
wait_for_port() {
  local deadline=$((SECONDS + ${3:-60}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "$2 did not start on port $1; see $LOGS/$2.log" >&2
      tail -20 "$LOGS/$2.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# start_dynamodb PORT [DATA_DIR]: in memory, or persistent in DATA_DIR.
start_dynamodb() {
  local port=$1 data=${2:-} workdir
  local storage=(-inMemory)
  if [ -n "$data" ]; then
    mkdir -p "$data"
    storage=(-dbPath "$data")
    workdir=$data
  else
    workdir=$(mktemp -d)
  fi
  # DynamoDB Local writes a metadata file into its working directory.
  (cd "$workdir" && exec java -Djava.library.path="$TOOLS/dynamodb/DynamoDBLocal_lib" \
    -jar "$TOOLS/dynamodb/DynamoDBLocal.jar" "${storage[@]}" -sharedDb -port "$port") \
    >"$LOGS/dynamodb.log" 2>&1 &
  STACK_PIDS+=($!)
  export DYNAMODB_PID=$! # the bench reports its CPU
  wait_for_port "$port" dynamodb
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
}

# moto serves SQS, and KMS for the key that wraps the data key (credentials at rest).
start_sqs() {
  local port=$1
  # moto's server, with its receive made linear (see the script).
  python "$ROOT/scripts/sqs_emulator.py" -H 127.0.0.1 -p "$port" >"$LOGS/sqs.log" 2>&1 &
  STACK_PIDS+=($!)
  export SQS_PID=$!
  wait_for_port "$port" sqs
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$port"
}

# start_recorder LOG: puts scripts/aws_recorder.py in front of the emulators; every call
# from here on is in LOG, with its caller (each function signs with its own access key).
start_recorder() {
  local log=$1 ddb_port sqs_port kms_port
  ddb_port=$(free_port)
  sqs_port=$(free_port)
  kms_port=$(free_port)
  python "$ROOT/scripts/aws_recorder.py" --log "$log" \
    --route "dynamodb=$ddb_port=$AWS_ENDPOINT_URL_DYNAMODB" \
    --route "sqs=$sqs_port=$AWS_ENDPOINT_URL_SQS" \
    --route "kms=$kms_port=$AWS_ENDPOINT_URL_KMS" >"$LOGS/recorder.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$ddb_port" recorder
  wait_for_port "$sqs_port" recorder
  wait_for_port "$kms_port" recorder
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$sqs_port"
  export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$kms_port"
}

# Creates the template's tables and queues and exports the functions' environment.
provision() {
  local exports
  exports=$(python "$ROOT/scripts/stack.py" provision \
    --dynamodb "$AWS_ENDPOINT_URL_DYNAMODB" --sqs "$AWS_ENDPOINT_URL_SQS" --kms "$AWS_ENDPOINT_URL_KMS")
  eval "$exports"
  # The template refuses plain http (HttpsOnly); local receivers speak nothing else.
  export HTTPS_ONLY=false
}

# start_api PORT: every route of template.yaml. cargo lambda watch serves the routes and
# the Lambda runtime API; scripts/functions.py runs the function binaries behind it and
# replaces any that die, as Lambda replaces a crashed environment (watch itself does not).
# watch's --timeout also ends an idle function's wait for its next event (with a 408 the
# runtime cannot read, so the function exits), and an invocation arriving meanwhile is
# lost: a day keeps idle functions waiting, as Lambda's runtime API does.
# HOOKLINE_WATCH_FLAGS=-v (or -vv) makes watch log each invocation, into api.log.
start_api() {
  local port=$1
  (cd "$ROOT" && exec cargo lambda ${HOOKLINE_WATCH_FLAGS:-} watch --invoke-address 127.0.0.1 --invoke-port "$port" \
    --only-lambda-apis --timeout 86400) >"$LOGS/api.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$port" api 120
  export HOOKLINE_FUNCTION_PIDS="$LOGS/pids"
  # Action links in payloads point at this API (in AWS: the HttpApi's URL, see template.yaml).
  export PUBLIC_BASE_URL="http://127.0.0.1:$port"
  python "$ROOT/scripts/functions.py" --runtime-api "http://127.0.0.1:$port/.rt" \
    --instances "${HOOKLINE_INSTANCES:-2}" --log "$LOGS/functions.log" \
    --pids "$HOOKLINE_FUNCTION_PIDS" >"$LOGS/supervisor.log" 2>&1 &
  STACK_PIDS+=($!)
  export HOOKLINE_API_URL="http://127.0.0.1:$port"
}

# The SQS-to-Lambda trigger for both queues (extra arguments go to sqs_trigger.py).
start_trigger() {
  # The event source mapping, not a function: SAM grants it the queue permissions itself.
  AWS_ACCESS_KEY_ID=sqstrigger python "$ROOT/scripts/sqs_trigger.py" --api "$HOOKLINE_API_URL" \
    --map "$HOOKLINE_DELIVERYQUEUE_URL=deliver" --map "$HOOKLINE_ALERTSQUEUE_URL=ingest-queue" \
    --invoke-timeout 35 "$@" \
    >"$LOGS/sqs-trigger.log" 2>&1 &
  TRIGGER_PID=$!
  STACK_PIDS+=("$TRIGGER_PID")
}

stop_stack() {
  local pid
  for pid in "${STACK_PIDS[@]}"; do
    # Each entry leads a process tree (cargo lambda watch runs the functions).
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STACK_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}

# Builds the workspace and prints the path of the end-to-end test binary.
build_e2e() {
  cargo build --workspace --locked >&2
  cargo test -p hookline-tests --locked --no-run --message-format=json \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "hookline_tests":
        print(m["executable"])'
}

# The stack the end-to-end tests run on (scripts/test.sh, scripts/e2e.sh), on free ports,
# every AWS call recorded in $AWS_CALLS.
start_test_stack() {
  start_dynamodb "$(free_port)"
  start_sqs "$(free_port)"
  AWS_CALLS="$LOGS/aws-calls.jsonl"
  start_recorder "$AWS_CALLS"
  provision
  # The data key that seals credentials at rest, as an operator makes it (creating an
  # account does too; the tests make theirs in the table directly).
  AWS_ACCESS_KEY_ID=hooklineadmin "$ROOT/target/debug/hookline-admin" --table "$TABLE_NAME" \
    create-data-key >/dev/null
  # A short retry schedule and lease, so retries, exhaustion and crash recovery take
  # seconds. The lease outlasts an attempt (10 s), and the visibility timeout the lease.
  export RETRY_SCHEDULE=1s,1s DELIVERY_LEASE=12s
  # The test receivers listen on 127.0.0.1; every other private range stays refused.
  export ALLOWED_CIDRS=127.0.0.0/8
  start_api "$(free_port)"
  export HOOKLINE_FUNCTIONS_LOG="$LOGS/functions.log"
  start_trigger --visibility-timeout 15
}

# Fails unless every function ran without a panic, and no instance was replaced but those
# a test killed on purpose (the crash test notes their pids in `killed`): a retry, a
# re-ask or a replaced process would otherwise hide such a fault.
check_functions_ran_clean() {
  local bad=0 line pid
  if grep -n "panicked at" "$LOGS/functions.log"; then
    echo "a function panicked (above)"
    bad=1
  fi
  while read -r line; do
    pid=$(sed -n 's/.*(pid \([0-9]*\)) exited.*/\1/p' <<<"$line")
    if [ -z "$pid" ] || ! grep -qx "$pid" "$HOOKLINE_FUNCTION_PIDS/killed" 2>/dev/null; then
      echo "a function instance restarted, and no test killed it: $line"
      bad=1
    fi
  done < <(grep -E "exited|rebuilt" "$LOGS/supervisor.log" || true)
  return $bad
}

# What the stack printed, on a failure: CI keeps nothing else.
show_logs() {
  echo "--- functions log (last 80 lines) ---"; tail -80 "$LOGS/functions.log"
  echo "--- supervisor log ---"; tail -20 "$LOGS/supervisor.log"
  echo "--- api (cargo lambda watch) log (last 20 lines) ---"; tail -20 "$LOGS/api.log"
  echo "--- sqs trigger log (last 20 lines) ---"; tail -20 "$LOGS/sqs-trigger.log"
  echo "--- recorder log (last 20 lines) ---"; tail -20 "$LOGS/recorder.log"
}
