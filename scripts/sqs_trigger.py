#!/usr/bin/env python3
"""The local stand-in for Lambda's SQS event source mapping.

For each QUEUE_URL=FUNCTION pair it long-polls the queue, sends batches of up to ten
messages as an SQS event to FUNCTION through the Lambda runtime that `cargo lambda watch`
emulates, deletes the messages that succeeded and leaves the batch item failures (and
every message of a failed invocation) to come back after the visibility timeout, as
Lambda does with ReportBatchItemFailures.
"""

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3


def event_for(messages, queue_arn, region):
    records = []
    for m in messages:
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def invoke(api, function, event, timeout):
    request = urllib.request.Request(
        f"{api}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def poll(sqs, queue_url, function, args, stop):
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    region = sqs.meta.region_name
    while not stop.is_set():
        receive = {
            "QueueUrl": queue_url,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": args.wait,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if args.visibility_timeout is not None:
            receive["VisibilityTimeout"] = args.visibility_timeout
        try:
            messages = sqs.receive_message(**receive).get("Messages", [])
        except Exception as error:  # the emulator restarting, for instance
            print(f"sqs-trigger: receive from {queue_url} failed: {error}", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        if not messages:
            continue
        try:
            result = invoke(args.api, function, event_for(messages, queue_arn, region), args.invoke_timeout)
        except (urllib.error.URLError, TimeoutError, ValueError, ConnectionError) as error:
            # A failed invocation: Lambda retries the whole batch after the visibility timeout.
            print(f"sqs-trigger: {function} failed on {len(messages)} messages: {error}", file=sys.stderr, flush=True)
            continue
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        print(
            f"sqs-trigger: {function}: {len(done)} done, {len(failed)} left for retry",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--api", required=True, help="the cargo lambda watch address, e.g. http://127.0.0.1:9000")
    parser.add_argument("--map", action="append", required=True, metavar="QUEUE_URL=FUNCTION")
    parser.add_argument("--pollers", type=int, default=4, help="concurrent batches per queue (Lambda's concurrency)")
    parser.add_argument("--wait", type=int, default=20, help="long-poll seconds")
    parser.add_argument("--visibility-timeout", type=int, help="override the queue's, e.g. for fast crash tests")
    parser.add_argument("--invoke-timeout", type=int, default=60)
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threads = []
    for pair in args.map:
        queue_url, function = pair.rsplit("=", 1)
        for _ in range(args.pollers):
            # boto3 clients are not shared between threads.
            sqs = boto3.session.Session().client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SQS"))
            thread = threading.Thread(target=poll, args=(sqs, queue_url, function, args, stop), daemon=True)
            thread.start()
            threads.append(thread)
    print(f"sqs-trigger: polling {len(args.map)} queue(s) with {args.pollers} poller(s) each", flush=True)
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
