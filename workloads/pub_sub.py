"""pub_sub: PUBLISH from the pool's connections; subscribers measure delivery.

Each message carries the publisher (its connection: thread's global index x 100000 +
connection index, since only messages sent on one connection have a defined order), a
sequence number per channel and the send time (CLOCK_MONOTONIC in ns, the same clock in every process on
the machine), padded to value_size:  b"<publisher> <seq> <sent_ns> <padding>".
Subscribers (harness/subscriber.py) use it for end-to-end latency, loss (received
against published x subscribers) and out-of-order deliveries.
"""

from __future__ import annotations

import time

from workloads.base import Workload


PUBLISHERS_PER_THREAD = 100_000


def channel_name(prefix: bytes, number: int) -> bytes:
    return prefix + b"chan:%d" % number


def channel_pattern(prefix: bytes) -> bytes:
    """A PSUBSCRIBE pattern for every channel of the run; glob characters escaped."""
    escaped = bytearray()
    for byte in prefix:
        if byte in b"*?[]\\":
            escaped += b"\\"
        escaped.append(byte)
    return bytes(escaped) + b"chan:*"


def parse_message(data: bytes) -> tuple[int, int, int]:
    """(publisher, sequence, sent_ns) from a message body."""
    publisher, sequence, sent_ns, _ = data.split(b" ", 3)
    return int(publisher), int(sequence), int(sent_ns)


class PubSub(Workload):
    commands = ("PUBLISH",)

    def __init__(self, spec):
        super().__init__(spec)
        self.publisher_base = spec.partition * PUBLISHERS_PER_THREAD
        self._channels = [channel_name(spec.key_prefix, n) for n in range(self.config.channels)]
        self._sequences: dict[tuple[int, int], int] = {}  # (connection, channel) -> next
        self._padding = self.values.next_value()

    def next_command(self) -> tuple:
        number = self.rng.randrange(len(self._channels))
        stream = (self.connection, number)
        sequence = self._sequences.get(stream, 0)
        self._sequences[stream] = sequence + 1
        publisher = self.publisher_base + self.connection
        head = b"%d %d %d " % (publisher, sequence, time.monotonic_ns())
        return ("PUBLISH", self._channels[number], head + self._padding[len(head):])

    def preload_commands(self, index: int) -> list[tuple]:
        return []
