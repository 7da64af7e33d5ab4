"""The pub_sub workload's subscribers: one thread per client process reading messages.

Runs in a client process, after the fork, on `subscribers` connections of its own (named
harness-<run id>-<process>-sub<n>, not counted in connections_per_client). Every
subscriber listens on every channel of the run (or on one pattern with
pattern_subscribe), so each published message should arrive subscribers x processes
times. For each message it records the end-to-end latency (from the publisher's send
time in the message) and checks the per (publisher, channel) sequence for out-of-order
or repeated deliveries. A subscriber connection that drops is re-established and
resubscribed; what it missed meanwhile shows up as loss.

Once the process's publishers are done, the thread drains until no message has come
for QUIET seconds (at most DRAIN_LIMIT), then sends its last report.
"""

from __future__ import annotations

import queue
import selectors
import time

import redis

from harness.histogram import index_of
from harness.coordination import Clock, Control, Report
from harness.stats import CommandStats, PubSubStats
from workloads.pub_sub import channel_name, channel_pattern, parse_message

QUIET = 0.3
DRAIN_LIMIT = 5.0
RETRY_AFTER = 0.1


class SubscriberLoop:
    def __init__(self, conns: list[redis.Connection], prefix: bytes, channels: int, pattern: bool,
                 clock: Clock, control: Control, outbox: queue.SimpleQueue, thread: int):
        self.conns = conns
        self.pattern = pattern
        self.targets = [channel_pattern(prefix)] if pattern else [channel_name(prefix, n) for n in range(channels)]
        self.clock = clock
        self.control = control
        self.outbox = outbox
        self.thread = thread
        self.round = 0
        self.stats = PubSubStats()
        self.last_seen: dict[tuple[int, int, bytes], int] = {}  # (conn, publisher, channel) -> seq
        self.selector = selectors.DefaultSelector()
        self.broken: dict[int, float] = {}  # connection number -> when to retry
        # The socket each connection was registered with: redis-py forgets its socket
        # when a read fails, but the selector must still be told to drop it.
        self.socks: dict[int, object] = {}

    def subscribe_all(self) -> None:
        """Subscribe every connection and wait for the confirmations (before the start)."""
        for number in range(len(self.conns)):
            self._subscribe(number)

    def _subscribe(self, number: int) -> None:
        conn = self.conns[number]
        conn.connect()
        conn.send_command("PSUBSCRIBE" if self.pattern else "SUBSCRIBE", *self.targets)
        for _ in self.targets:
            conn.read_response(disable_decoding=True, push_request=True)
        self.socks[number] = conn._sock
        self.selector.register(conn._sock, selectors.EVENT_READ, number)

    def run(self) -> None:
        drain_started = None
        last_message = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if self.control.publish_round != self.round:
                    self.round = self.control.publish_round
                    self._publish()
                if self.control.publishers_done:
                    drain_started = drain_started or now
                    if now - last_message > QUIET or now - drain_started > DRAIN_LIMIT:
                        break
                self._retry_broken(now)
                for key, _ in self.selector.select(0.05):
                    if self._read_all(key.data):
                        last_message = time.monotonic()
        finally:
            self._publish(final=True)
            for conn in self.conns:
                conn.disconnect()
            self.selector.close()

    def _read_all(self, number: int) -> bool:
        conn = self.conns[number]
        got = False
        try:
            while True:
                message = conn.read_response(disable_decoding=True, push_request=True)
                got |= self._on_message(number, message)
                if not conn.can_read(timeout=0):
                    return got
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            self._break(number)
            return got

    def _on_message(self, number: int, message) -> bool:
        kind = message[0]
        if kind == b"message":
            channel, data = message[1], message[2]
        elif kind == b"pmessage":
            channel, data = message[2], message[3]
        else:  # subscribe confirmations
            return False
        publisher, sequence, sent_ns = parse_message(data)
        stats = self.stats
        stats.received += 1
        key = (number, publisher, channel)
        previous = self.last_seen.get(key, -1)
        if sequence <= previous:
            stats.out_of_order += 1
        else:
            self.last_seen[key] = sequence
        if sent_ns / 1e9 >= self.clock.warmup_end:
            index = index_of(max(1, (time.monotonic_ns() - sent_ns) // 1000))
            stats.latency[index] = stats.latency.get(index, 0) + 1
        return True

    def _break(self, number: int) -> None:
        sock = self.socks.pop(number, None)
        if sock is not None:
            self.selector.unregister(sock)
        self.conns[number].disconnect()
        self.broken[number] = time.monotonic() + RETRY_AFTER

    def _retry_broken(self, now: float) -> None:
        for number, when in list(self.broken.items()):
            if now < when:
                continue
            try:
                self._subscribe(number)
            except (redis.RedisError, OSError):
                self.conns[number].disconnect()
                self.broken[number] = now + RETRY_AFTER
                continue
            del self.broken[number]
            self.stats.resubscribes += 1

    def _publish(self, final: bool = False) -> None:
        connected = len(self.conns) - len(self.broken)
        self.outbox.put(Report(self.thread, self.round, CommandStats(), CommandStats(), 0.0, 0.0,
                               connected, 0.0, final, pubsub=self.stats))
        self.stats = PubSubStats()
