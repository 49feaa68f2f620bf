#!/usr/bin/env python3
"""Verifies captured webhook deliveries with the Standard Webhooks reference library.

Usage: verify_webhooks.py CAPTURED.json SECRET

CAPTURED.json is a list of {"headers": {name: value}, "body": "<raw body>"}. Every delivery
must carry a valid signature for SECRET (a rotation's deliveries carry one per live secret, so
each of them verifies alone). Exits 1 on the first delivery that does not verify, or when the
file holds none. The tests run it with the interpreter of the venv scripts/test.sh sets up.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, secret = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        deliveries = json.load(f)
    if not deliveries:
        print(f"{path}: no deliveries to verify", file=sys.stderr)
        return 1
    webhook = Webhook(secret)
    for n, delivery in enumerate(deliveries):
        try:
            payload = webhook.verify(delivery["body"], delivery["headers"])
        except Exception as e:  # noqa: BLE001 - any failure is a bad delivery
            print(f"delivery {n} does not verify: {e!r}", file=sys.stderr)
            return 1
        if payload.get("id") != delivery["headers"].get("webhook-id"):
            print(f"delivery {n}: webhook-id is not the event's id", file=sys.stderr)
            return 1
    print(f"{len(deliveries)} deliveries verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
