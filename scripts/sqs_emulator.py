"""The SQS (and KMS) emulator: moto's server, with its standard queues repaired in three ways.

- Linear: moto checks each message it receives against the queue's retention period by
  computing every queue attribute, each attribute walks every message of the queue, and
  each message asks the clock for each of its states. Receiving ten messages from a queue
  of a thousand walked ninety thousand messages; a storm's queue stalled the emulator
  (one ListQueues took 1.2 s with 700 messages queued). Here the retention check reads
  the retention period alone, as SQS does, and a walk of the queue asks the clock once.
- Fair: SQS serves a standard queue's messages that carry a `MessageGroupId` as a fair
  queue (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
  sqs-fair-queues.html): once one group (a tenant) holds a disproportionate share of the
  messages in flight (over 10 % and at least 30), consumers get the quiet groups'
  messages first whenever there are any, so a quiet tenant's dwell time stays low. moto
  returns messages oldest first whatever their group; here a receive returns the
  messages of the groups with the smallest backlog first, oldest first within a group,
  with no threshold (a simplification: SQS leaves a small tenant's order alone).
  Hookline groups the delivery queue's messages by account.
- Quiet while waiting: a long poll waits for any visible message, and every send wakes
  every waiting poll. moto's wait built the whole ordered list of visible messages for
  each waiter at each send: two thirds of the emulator's time in the storm bench (py-spy).
  Here a waiter stops at the first visible message.

And one fix: moto deletes a message by building a new list of the queue's messages, without
the lock that a send appends under, so a message sent while another was being deleted
could vanish. The storm bench lost one alert's three messages (one SendMessageBatch) that
way. Here a delete holds that lock.
"""

import sys
import threading
from collections import Counter

from moto.core.utils import unix_time, unix_time_millis
from moto.server import main
from moto.sqs import models

_receiving = threading.local()


def _retained(self, queue_name, message):
    queue = self.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()


def _visible(queue, now):
    return [m for m in queue._messages if now > m.visible_at and now >= m.delayed_until]


def _messages(self):
    now = unix_time_millis()
    visible = _visible(self, now)
    if not getattr(_receiving, "on", False) or self.fifo_queue or len(visible) < 2:
        return visible
    backlog = Counter(m.group_id for m in self._messages if m.group_id and now >= m.delayed_until)
    # A stable sort: oldest first within a group, and among groups of the same backlog.
    return sorted(visible, key=lambda m: backlog[m.group_id] if m.group_id else 0)


def _any_visible(self):
    now = unix_time_millis()
    return any(now > m.visible_at and now >= m.delayed_until for m in self._messages)


def _wait_for_messages(self, timeout):
    with self._messages_lock:
        self._messages_lock.wait_for(lambda: _any_visible(self), timeout=timeout)


def _delayed(self):
    now = unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _not_visible(self):
    now = unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


_receive = models.SQSBackend.receive_message


def _fair_receive(self, *args, **kwargs):
    _receiving.on = True
    try:
        return _receive(self, *args, **kwargs)
    finally:
        _receiving.on = False


_delete = models.Queue.delete_message


def _locked_delete(self, receipt_handle):
    with self._messages_lock:
        return _delete(self, receipt_handle)


models.SQSBackend.is_message_valid_based_on_retention_period = _retained
models.Queue.delete_message = _locked_delete
models.Queue.wait_for_messages = _wait_for_messages
models.SQSBackend.receive_message = _fair_receive
models.Queue.messages = property(_messages)
models.Queue.approximate_number_of_messages_delayed = property(_delayed)
models.Queue.approximate_number_of_messages_not_visible = property(_not_visible)

if __name__ == "__main__":
    sys.exit(main())
