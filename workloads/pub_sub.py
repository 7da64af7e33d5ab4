"""pub_sub: PUBLISH from the pool's connections; subscribers measure delivery.

Each message carries the publisher (its connection: thread's global index x 100000 +
connection index, since only messages sent on one connection have a defined order), a
sequence number per channel and the send time (CLOCK_MONOTONIC in ns, the same clock in
every process on the machine), padded to value_size:
b"<publisher> <seq> <sent_ns> <padding>". Subscribers (harness/subscriber.py) use it
for end-to-end latency, loss (received against published x subscribers) and
out-of-order deliveries.

Since a message holds its send time, a batch is put together when the engine asks for
it, not a block ahead; the channels are still drawn in bulk.
"""

from __future__ import annotations

import time


from harness import parsers as p
from harness import schema
from harness.keyspace import escape_glob
from workloads.base import Batch, Workload, bulk, head

PUBLISHERS_PER_THREAD = 100_000
PUBLISH_HEAD = head("PUBLISH", 2)
# Channel numbers drawn at a time.
DRAWS = 4096


def channel_name(prefix: bytes, number: int) -> bytes:
    return prefix + b"chan:%d" % number


def channel_pattern(prefix: bytes) -> bytes:
    """A PSUBSCRIBE pattern for every channel of the run; glob characters escaped."""
    return escape_glob(prefix.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape") + b"chan:*"


def parse_message(data: bytes) -> tuple[int, int, int]:
    """(publisher, sequence, sent_ns) from a message body."""
    publisher, sequence, sent_ns, _ = data.split(b" ", 3)
    return int(publisher), int(sequence), int(sent_ns)


class PubSub(Workload):
    commands = ("PUBLISH",)
    config_keys = {
        "subscribers": (int, schema.key("workload", "1", p.integer(0, 10000),
                                        "pub_sub: subscriber connections per process", "N")),
        "channels": (int, schema.key("workload", "1", p.integer(1), "pub_sub: channels", "N")),
        "pattern_subscribe": (bool, schema.key("workload", "false", p.boolean(),
                                               "pub_sub: PSUBSCRIBE to a pattern", "BOOL")),
    }

    def __init__(self, spec):
        super().__init__(spec)
        self.publisher_base = spec.partition * PUBLISHERS_PER_THREAD
        self._channels = [channel_name(spec.key_prefix, n) for n in range(self.config.channels)]
        self._channel_bulks = [PUBLISH_HEAD + bulk(name) for name in self._channels]
        self._sequences: dict[tuple[int, int], int] = {}  # (connection, channel) -> next
        self._padding = self.values.next_value()
        self._drawn: list[int] = []  # channel numbers drawn ahead, used from _next on
        self._next = 0

    def next_batch(self, size: int, connection: int) -> Batch:
        if self._next + size > len(self._drawn):
            self._drawn, self._next = self.rng.integers(0, len(self._channels), max(DRAWS, size)).tolist(), 0
        numbers = self._drawn[self._next:self._next + size]
        self._next += size
        publisher = self.publisher_base + connection
        sequences, padding = self._sequences, self._padding
        commands = []
        for number in numbers:
            stream = (connection, number)
            sequence = sequences.get(stream, 0)
            sequences[stream] = sequence + 1
            message = b"%d %d %d " % (publisher, sequence, time.monotonic_ns())
            message += padding[len(message):]
            commands.append(self._channel_bulks[number] + bulk(message))
        data = b"".join(commands)
        keys = [self._channels[number] for number in numbers] if self.spec.cluster else None
        return Batch(data, commands, [0] * size, ((0, size, len(data)),), keys)

    def preload_commands(self, index: int) -> list[tuple]:
        return []
