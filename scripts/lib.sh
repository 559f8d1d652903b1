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
  wait_for_port "$port" dynamodb
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
}

start_sqs() {
  local port=$1
  moto_server -H 127.0.0.1 -p "$port" >"$LOGS/sqs.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$port" sqs
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
}

# start_recorder LOG: puts scripts/aws_recorder.py in front of both emulators; every call
# from here on is in LOG, with its caller (each function signs with its own access key).
start_recorder() {
  local log=$1 ddb_port sqs_port
  ddb_port=$(free_port)
  sqs_port=$(free_port)
  python "$ROOT/scripts/aws_recorder.py" --log "$log" \
    --route "dynamodb=$ddb_port=$AWS_ENDPOINT_URL_DYNAMODB" \
    --route "sqs=$sqs_port=$AWS_ENDPOINT_URL_SQS" >"$LOGS/recorder.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$ddb_port" recorder
  wait_for_port "$sqs_port" recorder
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$sqs_port"
}

# Creates the template's tables and queues and exports the functions' environment.
provision() {
  local exports
  exports=$(python "$ROOT/scripts/stack.py" provision \
    --dynamodb "$AWS_ENDPOINT_URL_DYNAMODB" --sqs "$AWS_ENDPOINT_URL_SQS")
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
