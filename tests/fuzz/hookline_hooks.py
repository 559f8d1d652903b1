"""Schemathesis hooks for fuzzing the local stack (scripts/test.sh runs them).

Adds one check to schemathesis' own: a refused request (4xx) changes nothing stored.
Before each call the fuzzing account's items are read (one Query of its partition, which
holds everything the account owns); after a refusal they are read again and compared.
The SQS trigger is stopped during the run, so no background delivery writes meanwhile.
"""

import atexit
import os

import boto3
import schemathesis

ACCOUNT = os.environ["HOOKLINE_FUZZ_ACCOUNT"]
TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
COUNTS = {"cases": 0, "refused": 0, "by_status": {}}
_before = {}


def stored_items():
    items, start = [], None
    while True:
        args = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"ACCOUNT#{ACCOUNT}"},
            "ConsistentRead": True,
        }
        if start:
            args["ExclusiveStartKey"] = start
        page = TABLE.query(**args)
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return {item["sk"]: item for item in items}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    _before[id(case)] = stored_items()


@schemathesis.check
def refused_requests_store_nothing(ctx, response, case):
    before = _before.pop(id(case), None)
    COUNTS["cases"] += 1
    status = response.status_code
    COUNTS["by_status"][status] = COUNTS["by_status"].get(status, 0) + 1
    if before is None or not 400 <= status < 500:
        return None
    COUNTS["refused"] += 1
    after = stored_items()
    if after != before:
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
        raise AssertionError(
            f"a {status} answer changed what is stored: added {added}, removed {removed}, changed {changed}"
        )
    return None


@atexit.register
def report():
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(COUNTS["by_status"].items()))
    print(
        f"fuzz: {COUNTS['cases']} cases sent; {COUNTS['refused']} refused (4xx), "
        f"each checked to store nothing; answers by status: {statuses}"
    )


@schemathesis.hook
def filter_body(ctx, body):
    """Drops bodies that are not UTF-8. cargo lambda watch answers those itself with a
    500 before any function runs; API Gateway base64-encodes them instead. The tests
    send such bodies through the handlers as API Gateway delivers them."""
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
