"""The SQS (and KMS) emulator: moto's server, with two repairs to its standard queues.

- Receive made linear: moto checks each message it receives against the queue's
  retention period by computing every queue attribute, and each attribute walks every
  message of the queue (three counts, three times a message). Receiving ten messages
  from a queue of a thousand walked ninety thousand, and a storm's queue stalled the
  whole emulator (one ListQueues took 1.2 s with 700 messages queued). Here the check
  reads the retention period alone, as SQS does.
- Fair queues: SQS serves a standard queue's messages that carry a `MessageGroupId` as a
  fair queue (aws.amazon.com/blogs/compute/building-resilient-multi-tenant-systems-with-
  amazon-sqs-fair-queues): when one group (a tenant) builds a backlog, the other groups'
  messages are returned first, so a quiet tenant's dwell time stays low. moto returns
  messages oldest first whatever their group; here a receive returns the messages of the
  groups with the smallest backlog (queued and in flight) first, oldest first within a
  group. Hookline groups the delivery queue's messages by account.
"""

import sys
from collections import Counter

from moto.core.utils import unix_time
from moto.server import main
from moto.sqs import models


def _retained(self, queue_name, message):
    queue = self.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()


def _fair_messages(self):
    visible = [m for m in self._messages if m.visible and not m.delayed]
    if self.fifo_queue or len(visible) < 2:
        return visible
    backlog = Counter(m.group_id for m in self._messages if m.group_id and not m.delayed)
    # A stable sort: oldest first within a group, and among groups of the same backlog.
    return sorted(visible, key=lambda m: backlog[m.group_id] if m.group_id else 0)


models.SQSBackend.is_message_valid_based_on_retention_period = _retained
models.Queue.messages = property(_fair_messages)

if __name__ == "__main__":
    sys.exit(main())
