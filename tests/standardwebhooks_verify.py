"""Verifies deliveries with the official Standard Webhooks library, as a receiver would.

Reads a JSON list of {"secret", "headers", "body_base64"} on stdin and prints a JSON list
with, for each, "ok" or the library's reason for refusing it.
"""

import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

results = []
for case in json.load(sys.stdin):
    body = base64.b64decode(case["body_base64"])
    try:
        Webhook(case["secret"]).verify(body, case["headers"])
        results.append("ok")
    except WebhookVerificationError as refused:
        results.append(str(refused))
json.dump(results, sys.stdout)
