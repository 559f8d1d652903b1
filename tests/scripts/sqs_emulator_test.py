"""The SQS emulator's repairs (scripts/sqs_emulator.py) under concurrent use: sends racing
deletes lose no message, and every message is received. moto as it comes loses some (9 of
3,000 in one run here), which is how the storm bench once lost an alert.

Run by scripts/test.sh: `python tests/scripts/sqs_emulator_test.py`.
"""

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import sqs_emulator  # noqa: E402,F401  applies the repairs to moto
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.sqs import models  # noqa: E402

SENT = 3000
CONSUMERS = 4


def main():
    backend = models.sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    queue = backend.create_queue("race")
    received = set()
    lock = threading.Lock()
    sent_all = threading.Event()

    def send():
        for i in range(SENT):
            backend.send_message("race", str(i))
        sent_all.set()

    def consume():
        while True:
            try:
                messages = backend.receive_message("race", 10, 0, 30)
            except RuntimeError:
                # moto's receive is not thread-safe in other ways (a set changed while it
                # read it); the server answers that call 500 and the client asks again.
                continue
            for m in messages:
                with lock:
                    received.add(m.body)
                try:
                    backend.delete_message("race", m.receipt_handle)
                except Exception:  # received twice at once: the other copy deleted it
                    pass
            if not messages and sent_all.is_set() and not queue._messages:
                return

    threads = [threading.Thread(target=send)] + [threading.Thread(target=consume) for _ in range(CONSUMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    lost = SENT - len(received)
    assert lost == 0, f"{lost} of {SENT} messages lost"
    print(f"sqs emulator: {SENT} messages sent while others were deleted, none lost")


if __name__ == "__main__":
    main()
