#!/usr/bin/env python3
"""Runs every function of template.yaml against `cargo lambda watch --only-lambda-apis`.

cargo lambda watch serves the HTTP routes and the Lambda runtime API; this keeps the
function processes behind it alive, as Lambda does with execution environments:
- each function runs as N instances (Lambda's concurrency), each polling the runtime API;
- an instance that dies (a crash, or a test killing it) is replaced at once;
- when `cargo build` replaces a binary, its instances restart on the new one;
- a method or path no function serves gets API Gateway's 404, not a wait for ever;
- with --pids DIR, each instance's pid is in DIR/<function>.<n>.pid, so that a test can
  end exactly the processes this supervisor started (the crash test does).

The functions inherit this process's environment (TABLE_NAME, the AWS endpoints, ...).

They reach watch's runtime API through a pass-through of this process's, which sends each
function's answer (`POST .../response` and `.../error`) to watch whole, on a connection of
its own with `Connection: close`. cargo lambda watch (1.9) answers that POST before it has
read its body, and hyper then finishes reading the body only when another request comes
on the same connection; the function's next poll usually does that, but now and then its
HTTP client opens a new connection instead, and an answer longer than hyper's first read
(about 8 KB) was stranded: the API request waited forever, or got watch's own 500.
"""

import argparse
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, load_template, resources  # noqa: E402


def binaries():
    return sorted(
        fn["Metadata"]["BuildProperties"]["Binary"]
        for fn in resources(load_template(), "AWS::Serverless::Function").values()
    )


def runtime_proxy(upstream):
    """Starts the pass-through to watch's runtime API at `upstream` (http://host:port/.rt);
    returns its base URL, with the same path."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def client_gone(self):
            """Whether the function closed its connection (it died, or was killed)."""
            try:
                return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True

        def forward(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            headers["Connection"] = "close"
            # One connection per request: an answer is never left behind on a kept one.
            # `next` waits as long as watch does (a day).
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=90000)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                # While watch holds a `next`, a function that dies must let it go, as its
                # own connection closing would have: else watch hands the next event to it.
                while not select.select([upstream.sock], [], [], 0.2)[0]:
                    if self.client_gone():
                        return
                response = upstream.getresponse()
                data = response.read()
            except OSError as error:
                self.send_error(502, f"runtime API unreachable: {error}")
                return
            finally:
                upstream.close()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}{target.path}"


# What API Gateway's HTTP API answers a method and path no route has.
NOT_FOUND = {
    "statusCode": 404,
    "headers": {"content-type": "application/json"},
    "multiValueHeaders": {},
    "cookies": [],
    "body": json.dumps({"message": "Not Found"}),
    "isBase64Encoded": False,
}


def answer_unrouted(runtime_api):
    """Answers every request watch routes to no function, as API Gateway does: 404.

    watch hands a method or path its router does not know to a function named `_`. With
    no one polling for `_`, such requests waited for ever, and once 100 of them were
    queued watch's scheduler blocked while holding its lock, and every route stopped
    answering."""
    base = urlsplit(f"{runtime_api}/_/2018-06-01/runtime/invocation/")
    while True:
        connection = http.client.HTTPConnection(base.hostname, base.port, timeout=90000)
        try:
            connection.request("GET", base.path + "next")
            response = connection.getresponse()
            response.read()
            request_id = response.getheader("lambda-runtime-aws-request-id")
            if response.status != 200 or not request_id:
                time.sleep(0.5)
                continue
            body = json.dumps(NOT_FOUND).encode()
            connection.close()
            connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
            connection.request(
                "POST",
                f"{base.path}{request_id}/response",
                body=body,
                headers={"content-type": "application/json"},
            )
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            # watch restarting, or a connection cut: ask again shortly, never stop answering.
            time.sleep(0.5)
        finally:
            connection.close()


class Instance:
    def __init__(self, binary, index, runtime_api, log, pids):
        self.binary, self.index, self.runtime_api, self.log = binary, index, runtime_api, log
        self.pid_file = pids / f"{binary}.{index}.pid" if pids else None
        self.process = None
        self.started_mtime = None

    @property
    def path(self):
        return ROOT / "target" / "debug" / self.binary

    def start(self):
        env = dict(os.environ)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"{self.runtime_api}/{self.binary}",
                "AWS_LAMBDA_FUNCTION_NAME": self.binary,
                "AWS_LAMBDA_FUNCTION_VERSION": "1",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                # Its own access key, so scripts/aws_recorder.py knows which function called
                # (DynamoDB Local takes only letters and digits in one).
                "AWS_ACCESS_KEY_ID": self.binary.replace("-", ""),
            }
        )
        self.started_mtime = self.path.stat().st_mtime
        self.process = subprocess.Popen([str(self.path)], env=env, stdout=self.log, stderr=self.log)
        if self.pid_file:
            # Written whole, then renamed: a reader never sees half a pid.
            partial = self.pid_file.with_suffix(".tmp")
            partial.write_text(str(self.process.pid))
            partial.replace(self.pid_file)

    def check(self):
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:  # cargo is replacing it right now
            return
        if self.process.poll() is not None:
            print(
                f"functions: {self.binary}#{self.index} (pid {self.process.pid}) exited "
                f"({self.process.returncode}); replacing it",
                flush=True,
            )
            self.start()
        elif mtime != self.started_mtime:
            print(f"functions: {self.binary} was rebuilt; restarting #{self.index}", flush=True)
            self.process.terminate()
            self.process.wait()
            self.start()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runtime-api", required=True, help="e.g. http://127.0.0.1:9000/.rt")
    parser.add_argument("--instances", type=int, default=2, help="instances of each function")
    parser.add_argument("--log", required=True, help="file for the functions' output")
    parser.add_argument("--pids", type=Path, help="folder for each instance's pid file")
    args = parser.parse_args()
    if args.pids:
        args.pids.mkdir(parents=True, exist_ok=True)

    log = open(args.log, "ab", buffering=0)
    runtime_api = runtime_proxy(args.runtime_api)
    instances = [
        Instance(b, i, runtime_api, log, args.pids) for b in binaries() for i in range(args.instances)
    ]
    missing = sorted({i.binary for i in instances if not i.path.exists()})
    if missing:
        sys.exit(f"functions: build first (cargo build --workspace); missing {missing}")
    for instance in instances:
        instance.start()
    for _ in range(args.instances):
        threading.Thread(target=answer_unrouted, args=(runtime_api,), daemon=True).start()
    print(f"functions: {len(instances)} instances of {len(instances) // args.instances} functions", flush=True)

    def stop(*_):
        for instance in instances:
            instance.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        time.sleep(0.2)
        for instance in instances:
            instance.check()


if __name__ == "__main__":
    main()
