#!/usr/bin/env python3
"""Records every AWS API call made to the local emulators, by whom, on what.

A small HTTP proxy in front of DynamoDB Local and the SQS and KMS emulator. Each process of the
local stack signs its requests with its own access key id (the function's name; see
scripts/functions.py), so the `Credential=` field of the SigV4 `Authorization` header
says who called. For each request it appends one JSON line to the log:

  {"caller": "deliver", "service": "dynamodb", "operation": "TransactWriteItems",
   "actions": [["UpdateItem", "hookline-Table"], ["ConditionCheckItem", "hookline-Table"]]}

`actions` are the IAM actions the call needs and their resources: a transaction needs each
of its items' actions, `SendMessageBatch` needs `sqs:SendMessage`, a Query on an index needs
the index. `scripts/stack.py check-permissions` compares them with template.yaml.

Nothing is checked here and nothing is refused: the emulators answer as they would.
"""

import argparse
import http.client
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
# An SQS batch call needs the permission of its single form.
SQS_ACTION = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
TRANSACT_ACTION = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def dynamodb_actions(operation, body):
    """The IAM actions and resources (table, or table/index/NAME) a DynamoDB call needs."""
    if operation == "TransactWriteItems":
        return [
            [TRANSACT_ACTION[kind], item[kind]["TableName"]]
            for item in body.get("TransactItems", [])
            for kind in item
        ]
    if operation == "TransactGetItems":
        return [["GetItem", item["Get"]["TableName"]] for item in body.get("TransactItems", [])]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [[operation, table] for table in body.get("RequestItems", {})]
    table = body.get("TableName", "")
    if body.get("IndexName"):
        table = f"{table}/index/{body['IndexName']}"
    return [[operation, table]]


def kms_actions(operation, body):
    """A KMS call on the key it names; Decrypt names none (the key is in the ciphertext),
    and the stack has one key, which check-permissions puts in."""
    return [[operation, body.get("KeyId", "")]]


def sqs_actions(operation, body):
    queue = body.get("QueueUrl") or body.get("QueueName") or ""
    return [[SQS_ACTION.get(operation, operation), queue.rstrip("/").rsplit("/", 1)[-1]]]


def describe(service, headers, raw):
    """(operation, actions) of a request, from the JSON protocol's target header or the
    query protocol's form body."""
    target = headers.get("x-amz-target", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
        body = json.loads(raw or b"{}")
    else:
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        operation, body = form.get("Action", "?"), form
    if service == "dynamodb":
        return operation, dynamodb_actions(operation, body)
    if service == "kms":
        return operation, kms_actions(operation, body)
    return operation, sqs_actions(operation, body)


def handler_for(service, upstream, log, lock):
    target = urlsplit(upstream)
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def upstream(self):
            if getattr(local, "connection", None) is None:
                local.connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            return local.connection

        def forward(self, raw):
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            for attempt in range(2):
                try:
                    connection = self.upstream()
                    connection.request(self.command, self.path, body=raw, headers=headers)
                    response = connection.getresponse()
                    return response.status, response.getheaders(), response.read()
                except (http.client.HTTPException, OSError):
                    # A kept-alive connection the emulator closed: open a new one, once.
                    local.connection = None
                    if attempt:
                        raise

        def handle_any(self):
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            caller = CREDENTIAL.search(self.headers.get("authorization", ""))
            try:
                operation, actions = describe(service, {k.lower(): v for k, v in self.headers.items()}, raw)
            except (ValueError, KeyError, TypeError) as error:
                operation, actions = f"unreadable ({error})", []
            status, headers, body = self.forward(raw)
            line = {
                "caller": caller.group(1) if caller else None,
                "service": service,
                "operation": operation,
                "actions": actions,
                "status": status,
            }
            with lock:
                log.write(json.dumps(line) + "\n")
                log.flush()
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--route", action="append", required=True, metavar="SERVICE=PORT=UPSTREAM",
                        help="e.g. dynamodb=8001=http://127.0.0.1:8000")
    parser.add_argument("--log", required=True, help="the JSON-lines file of calls")
    args = parser.parse_args()
    log, lock = open(args.log, "a", encoding="utf-8"), threading.Lock()
    servers = []
    for route in args.route:
        service, port, upstream = route.split("=", 2)
        server = ThreadingHTTPServer(("127.0.0.1", int(port)), handler_for(service, upstream, log, lock))
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"aws-recorder: {', '.join(args.route)}; calls in {args.log}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
