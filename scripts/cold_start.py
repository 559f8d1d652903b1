#!/usr/bin/env python3
"""Measures a function's cold init: from exec to its first GET /runtime/invocation/next.

A stand-in for the Lambda runtime API listens on loopback; each run starts the release
binary with AWS_LAMBDA_RUNTIME_API pointing at it and the stack's environment (every
setting a deployed function has, and credentials), stamps the moment the request line of
`GET /2018-06-01/runtime/invocation/next` arrives, and ends the process. Prints the median
and the maximum of the runs, per binary.

  cold_start.py --runs 20 target/release/get-webhook target/release/deliver
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

NEXT = b"GET /2018-06-01/runtime/invocation/next"


def environment(port):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "coldstart",
        "AWS_SECRET_ACCESS_KEY": "coldstart",
        "AWS_SESSION_TOKEN": "coldstart",
        "TABLE_NAME": "hookline-Table",
        "DELIVERY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/hookline-DeliveryQueue",
        "WEBHOOK_QUOTA": "30",
        "RUST_LOG": "info",
        "RETRY_SCHEDULE": "5s,5m,30m,2h,5h,10h,10h",
        "DISABLE_AFTER": "5d",
        "DELIVERY_RETENTION_DAYS": "30",
        "CLOUDWATCH_ACCOUNT_ID": "",
        "ALLOWED_CIDRS": "",
        "HTTPS_ONLY": "true",
    }
    return env


def one_start(binary, server, port):
    started = time.perf_counter_ns()
    process = subprocess.Popen([binary], env=environment(port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        server.settimeout(10)
        connection, _ = server.accept()
        data = b""
        while b"\r\n" not in data:
            chunk = connection.recv(4096)
            if not chunk:
                break
            data += chunk
        arrived = time.perf_counter_ns()
        connection.close()
        if not data.startswith(NEXT):
            sys.exit(f"{binary}: expected the next-invocation request, got {data[:80]!r}")
        return (arrived - started) / 1e6
    finally:
        process.kill()
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    for binary in args.binaries:
        one_start(binary, server, port)  # the file in the page cache, as Lambda has it
        times = [one_start(binary, server, port) for _ in range(args.runs)]
        print(f"{os.path.basename(binary):<24} cold init over {args.runs} starts: "
              f"median {statistics.median(times):6.2f} ms, max {max(times):6.2f} ms")


if __name__ == "__main__":
    main()
