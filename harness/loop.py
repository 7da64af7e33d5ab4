"""One worker thread's event loop over its connections.

Runs in a client process, one instance per worker thread, after the fork. The thread
owns its connections, its workload, its schedule and its stats: nothing here is
shared with another thread except the `Control` flags and the outbox the process
drains. redis-py sets each connection up (AUTH, HELLO, SELECT, CLIENT SETNAME, TLS);
from then on the loop writes encoded batches to the socket itself and parses replies
with its own hiredis.Reader, because redis-py's per-command path cost several times
the rest of the loop (profiles in the issue notes).

Each connection carries at most one batch (`pipeline` commands) in flight. The loop
sends a batch on every ready connection that is due, then waits on epoll for replies,
so a thread with k connections keeps k batches in flight: one thread can drive many
connections, and fewer threads means less GIL contention.

A connection that fails is closed, its batch's operations are counted as errors of
their type, and it is reconnected with backoff (50 ms doubling to 500 ms) while the
others carry on. If a thread has had no working connection for `outage_budget`
seconds, the target is treated as gone and the thread raises TargetGone.
"""

from __future__ import annotations

import collections
import os
import queue
import random
import select
import time
from dataclasses import dataclass

import hiredis
import redis
from hiredis import ReplyError

from harness.errors import TargetError
from harness.histogram import index_of
from harness.pacing import Schedule
from harness.stats import CommandStats, PubSubStats, error_type
from workloads.base import PreparedBatch

# Bytes asked of the socket per read; replies of a batch usually arrive in one.
READ_SIZE = 65536
# Trace samples a thread keeps per report (about a second), whatever the ratio.
MAX_SAMPLES = 200
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 0.5
# Longest sleep when nothing is in flight, so stop requests are seen promptly.
IDLE_WAIT = 0.05


# Error replies that mean the server cannot serve this connection right now (a demoted
# master, a node loading or without quorum): they open a disruption like a lost connection.
DISRUPTIVE_ERRORS = frozenset({"READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"})

MULTI = ("MULTI",)
EXEC = ("EXEC",)


def reply_error_type(reply: ReplyError) -> str:
    """The server's error prefix (OOM, WRONGTYPE, NOPERM, MOVED...), or ERR."""
    word = str(reply).split(" ", 1)[0]
    return word if word.isupper() else "ERR"


def move_failed_to_errors(queued: list, replies: list, stats: CommandStats) -> None:
    """A command inside MULTI/EXEC was counted ok when QUEUED; its real outcome is its
    item in EXEC's reply."""
    for command, reply in zip(queued, replies):
        if type(reply) is ReplyError:
            stats.ok[command[0]] -= 1
            stats.errors[command[0], reply_error_type(reply)] += 1


class TargetGone(TargetError):
    pass


class Poller:
    """epoll over sockets, handing back the object registered with each ready one.
    (The selectors module builds a key tuple per event; at pipeline 1 that showed.)"""

    def __init__(self):
        self.epoll = select.epoll()
        self.owners: dict[int, object] = {}
        self.fds: dict[object, int] = {}

    def register(self, sock, owner) -> None:
        fd = sock.fileno()
        self.epoll.register(fd, select.EPOLLIN)
        self.owners[fd] = owner
        self.fds[sock] = fd

    def unregister(self, sock) -> None:
        fd = self.fds.pop(sock, None)
        if fd is None:
            return
        del self.owners[fd]
        try:
            self.epoll.unregister(fd)
        except OSError:
            pass  # already closed

    def poll(self, timeout: float) -> list:
        owners = self.owners
        return [owners[fd] for fd, _ in self.epoll.poll(timeout) if fd in owners]

    def close(self) -> None:
        self.epoll.close()


class Control:
    """Flags the process's main thread sets for its worker threads (plain attributes:
    reading one costs nothing, unlike a multiprocessing.Event).

    `publish_round` goes up once per Delta interval; each thread answers with a Report
    for that round at its next loop turn, so all threads' figures cover the same span.
    """

    def __init__(self):
        self.stopping = False
        self.publish_round = 0
        self.publishers_done = False  # pub_sub: every worker thread has finished
        # Sentinel: raised when the master's address changes (harness.sentinel_watch);
        # each thread then moves its connections to the new master.
        self.master_moves = 0
        self.master_moved_at = 0.0


@dataclass(frozen=True)
class Clock:
    start: float  # time.monotonic() at which load starts, the same in every process
    deadline: float  # when to stop sending (inf without a duration)
    warmup_end: float  # operations completed before this are left out of the results


@dataclass
class Report:
    """What a thread publishes to its process when asked (Control.publish_round)."""

    thread: int
    round: int
    stats: CommandStats
    warmup: CommandStats
    lag: float
    max_lag: float
    connections: int
    last_reply: float = 0.0
    final: bool = False
    pubsub: PubSubStats | None = None


class Slot:
    """One connection and the batch it has in flight."""

    __slots__ = ("conn", "number", "batch", "position", "failed", "measured", "started", "active_at",
                 "retry_at", "backoff", "sock", "reader", "failing_since", "failing_errors", "pending",
                 "sent_at")

    def __init__(self, conn: redis.Connection, active_at: float, number: int = 0):
        self.conn = conn
        self.number = number  # the connection's index in its process
        self.batch: list | None = None
        self.measured = True  # whether the batch in flight counts in the results (not warmup)
        self.started = 0.0
        self.active_at = active_at
        self.retry_at = 0.0
        self.backoff = FIRST_BACKOFF
        self.sock = None
        self.pending = None  # the TLS socket's pending(), else None
        self.sent_at = 0.0  # when the batch in flight was written
        self.reader: hiredis.Reader | None = None  # this connection's reply parser
        self.position = 0  # replies of the batch in flight read so far
        self.failed: dict | None = None  # positions in the batch that got an error reply
        # Since when this connection has been failing (lost, or answering READONLY...),
        # and the operations that failed meanwhile; None while it works.
        self.failing_since: float | None = None
        self.failing_errors = 0


class ThreadLoop:
    def __init__(self, slots, workload, pipeline: int, quota: int, rate: float, clock: Clock,
                 control: Control, outbox: queue.SimpleQueue, outage_budget: float, offset: float = 0.0,
                 thread: int = 0, sample_ratio: float = 0.0, seed: int = 0,
                 reconnect_on: frozenset = frozenset(), reply_timeout: float = float("inf")):
        self.thread = thread
        # Error replies after which the connection is reopened: READONLY behind Sentinel,
        # where reconnecting asks the Sentinels for the new master.
        self.reconnect_on = reconnect_on
        self.reply_timeout = reply_timeout  # socket_timeout: a batch unanswered this long fails
        self.pid = os.getpid()  # with a connection's number, names it in disruption reports
        self.sample_ratio = sample_ratio  # share of batches kept as trace samples
        self.rng = random.Random(seed)
        self.round = 0
        self.slots = slots
        self.workload = workload
        self.transaction = getattr(workload, "transaction", False)
        self.pipeline = pipeline
        self.quota = quota  # operations left to send; -1 = no limit
        self.schedule = Schedule(rate, pipeline, clock.start + offset, clock.deadline)
        self.clock = clock
        self.control = control
        self.outbox = outbox
        self.outage_budget = outage_budget
        self.poller = Poller()
        self.ready: collections.deque[Slot] = collections.deque()
        self.parked: list[Slot] = []
        self.next_unpark = float("inf")
        self.in_flight = 0
        self.stats = CommandStats()
        self.warmup = CommandStats()
        self.max_lag = 0.0
        self.last_reply = 0.0
        self.down_since: float | None = None
        self.master_moves = 0  # the last Control.master_moves acted on
        # Workloads that prepared whole batches before the start (high_throughput).
        self.ring: list[PreparedBatch] | None = getattr(workload, "ring", None)
        self.ring_next = 0
        self.moving: set[Slot] = set()  # busy connections to reopen once their batch is in

    # -- the loop -------------------------------------------------------------------
    def run(self) -> None:
        for slot in self.slots:
            self._watch(slot)
            self._park(slot)
        control = self.control
        try:
            while True:
                now = time.monotonic()
                sending = not self.control.stopping and self.quota != 0 and not self.schedule.finished(now)
                if not sending and self.in_flight == 0:
                    break
                if control.publish_round != self.round:
                    self.round = control.publish_round
                    self._publish(now)
                    if self.in_flight:
                        self._expire(now)
                if control.master_moves != self.master_moves:
                    self._follow_master(now)
                if sending:
                    if self.parked and now >= self.next_unpark:
                        self._unpark(now)
                    if self.ready:
                        self._send_due(now)
                    elif not self.in_flight:
                        self._check_outage(now)
                for owner in self.poller.poll(self._wait_time(now, sending)):
                    self._on_readable(owner)
        finally:
            for slot in self.slots:  # disruptions still open: not recovered within the run
                if slot.failing_since is not None:
                    self.stats.disruptions.append(
                        (slot.failing_since, None, slot.failing_errors, (self.pid, slot.number)))
            self._publish(time.monotonic(), final=True)
            for slot in self.slots:
                self._close(slot)
            self.poller.close()

    # Connections are either ready (connected, active, idle: a deque the send loop pops
    # from, so a turn costs nothing per busy connection), busy (a batch in flight), or
    # parked (before their ramp second, or waiting to reconnect), looked at again only
    # when the earliest of them is due.
    def _park(self, slot: Slot) -> None:
        self.parked.append(slot)
        self.next_unpark = min(self.next_unpark, max(slot.active_at, slot.retry_at))

    def _unpark(self, now: float) -> None:
        still, self.parked, self.next_unpark = self.parked, [], float("inf")
        for slot in still:
            if now >= slot.active_at and (slot.sock is not None or self._reconnect(slot, now)):
                self.ready.append(slot)
            else:
                self._park(slot)

    def _take_due(self, now: float) -> tuple | None:
        """(slot, intended start, batch size) for the next batch that is due on a ready
        connection, with the schedule and quota advanced; None when nothing is due."""
        if not self.ready or self.quota == 0:
            return None
        schedule = self.schedule
        if schedule.open_loop:
            intended = schedule.due(now)
            if intended is None:
                return None
            schedule.taken()
        elif now < schedule.end:  # closed loop: due now
            intended = now
        else:
            return None
        quota, pipeline = self.quota, self.pipeline
        if quota < 0:
            size = pipeline
        else:
            size = pipeline if quota >= pipeline else quota
            self.quota = quota - size
        return self.ready.popleft(), intended, size

    def _encode_batch(self, slot: Slot, size: int, stats: CommandStats) -> tuple[list, list]:
        """(commands, their encodings) for a batch of `size` operations, its request
        bytes counted. With transaction = true, MULTI/EXEC wrap it (commands of their own,
        not operations)."""
        workload = self.workload
        workload.connection = slot.number
        if getattr(workload, "prepacked", False):  # (name, encoded bytes) made at start
            batch = [workload.next_packed() for _ in range(size)]
            packed = [command[1] for command in batch]
        else:
            next_command = workload.next_command
            if self.transaction:
                workload.begin_batch()
                batch = [MULTI, *[next_command() for _ in range(size)], EXEC]
            else:
                batch = [next_command() for _ in range(size)]
            packed = [hiredis.pack_command(command) for command in batch]
        sent = stats.bytes_sent
        for command, data in zip(batch, packed):
            sent[command[0]] += len(data)
        return batch, packed

    def _send_due(self, now: float) -> None:
        ring, pipeline, warmup_end = self.ring, self.pipeline, self.clock.warmup_end
        while True:
            due = self._take_due(now)
            if due is None:
                break
            slot, intended, size = due
            # An operation belongs to the results when its intended start is after warmup.
            measured = intended >= warmup_end
            stats = self.stats if measured else self.warmup
            if ring is not None and size == pipeline:
                # A batch prepared ahead of time: one lookup, accounting per command name.
                batch = ring[self.ring_next]
                self.ring_next = (self.ring_next + 1) % len(ring)
                sent = stats.bytes_sent
                for name, count in batch.sent:
                    sent[name] += count
                data = batch.data
            else:
                batch, packed = self._encode_batch(slot, size, stats)
                data = b"".join(packed)
            try:
                # One write per batch, straight to the socket: going through redis-py
                # (a sendall per chunk, a host string per call) dominated the profiles.
                slot.sock.sendall(data)
            except OSError as exc:
                commands = [(name,) for name in batch.names] if type(batch) is PreparedBatch else batch
                self._fail_batch(slot, commands, exc, now, stats)
                continue
            slot.batch = batch
            slot.position = 0
            slot.measured = measured
            slot.started = intended
            slot.sent_at = now
            self.in_flight += 1
        lag = self.schedule.lag(now)
        if lag > self.max_lag:
            self.max_lag = lag

    def _on_readable(self, slot: Slot) -> None:
        """Parse what arrived; when the batch's last reply is in, record the batch."""
        batch = slot.batch
        try:
            data = slot.sock.recv(READ_SIZE)
            if slot.pending is not None:
                while data and slot.pending():
                    data += slot.sock.recv(slot.pending())  # TLS: decrypted bytes epoll cannot see
        except OSError as exc:
            data, failure = b"", exc
        else:
            failure = None
        if not data or batch is None:  # closed, failed, or data nobody asked for
            if batch is not None:
                stats = self.stats if slot.measured else self.warmup
                failure = failure or redis.ConnectionError("Connection closed by server.")
                self._fail_batch(slot, self._unanswered(slot, batch, stats), failure, time.monotonic(), stats)
                self.in_flight -= 1
            else:
                self._break(slot, time.monotonic())
            return
        reader = slot.reader
        reader.feed(data)
        if type(batch) is PreparedBatch:
            if self._parse_prepared(slot, batch, reader) and (slot.failed or self.moving):
                self._after_batch(slot)
            return
        # Looked up now, not at send time: _publish swaps these objects every interval.
        stats = self.stats if slot.measured else self.warmup
        ok, errors, nulls = stats.ok, stats.errors, stats.nulls
        position, size = slot.position, len(batch)
        failed = slot.failed if position else None
        while position < size:
            reply = reader.gets()
            if reply is False:  # the rest has not arrived yet
                slot.position, slot.failed = position, failed
                return
            name = batch[position][0]
            if type(reply) is ReplyError:
                kind = reply_error_type(reply)
                errors[name, kind] += 1
                failed = failed or {}
                failed[position] = kind
                if kind in DISRUPTIVE_ERRORS:
                    self._failing(slot, time.monotonic(), 1)
            else:
                ok[name] += 1
                if reply is None:
                    nulls[name] += 1
                elif batch[position] is EXEC and isinstance(reply, list):
                    move_failed_to_errors(batch[1:-1], reply, stats)
            position += 1
        self._complete(slot, batch, stats, failed)
        slot.failed = failed
        self._after_batch(slot)

    def _parse_prepared(self, slot: Slot, batch: PreparedBatch, reader: hiredis.Reader) -> bool:
        """The replies of a prepared batch; True once the batch is complete (recorded).
        Successes are added per command name at the end, so a reply costs only a parse
        and two identity checks (a null reply, an error)."""
        stats = self.stats if slot.measured else self.warmup
        names = batch.names
        position, size = slot.position, len(names)
        failed = slot.failed if position else None
        gets = reader.gets
        while position < size:
            reply = gets()
            if reply is False:  # the rest has not arrived yet
                slot.position, slot.failed = position, failed
                return False
            if reply is None:
                stats.nulls[names[position]] += 1
            elif type(reply) is ReplyError:
                kind = reply_error_type(reply)
                stats.errors[names[position], kind] += 1
                failed = failed or {}
                failed[position] = kind
                if kind in DISRUPTIVE_ERRORS:
                    self._failing(slot, time.monotonic(), 1)
            position += 1
        ok = stats.ok
        for name, count in batch.counts:
            ok[name] += count
        if failed:
            for position in failed:
                ok[names[position]] -= 1
        self._complete(slot, batch, stats, failed)
        slot.failed = failed
        return True

    def _expire(self, now: float) -> None:
        """Batches unanswered for socket_timeout seconds fail as timeouts, and their
        connections start over (looked at once a second, with the reports)."""
        for slot in self.slots:
            if slot.batch is not None and now - slot.sent_at > self.reply_timeout:
                self._fail_in_flight(slot, redis.TimeoutError("no reply within socket_timeout"), now)

    def _fail_in_flight(self, slot: Slot, exc: BaseException, now: float) -> None:
        stats = self.stats if slot.measured else self.warmup
        self._fail_batch(slot, self._unanswered(slot, slot.batch, stats), exc, now, stats)
        self.in_flight -= 1

    def _unanswered(self, slot: Slot, batch, stats: CommandStats) -> list:
        """The commands of a failing batch that got no reply. For a prepared batch the
        replies already parsed are successes not yet added: add them now."""
        if type(batch) is not PreparedBatch:
            return batch[slot.position:]
        failed = slot.failed or {}
        for position in range(slot.position):
            if position not in failed:
                stats.ok[batch.names[position]] += 1
        return [(name,) for name in batch.names[slot.position:]]

    def _after_batch(self, slot: Slot) -> None:
        """Reopen the connection when its last batch said so (READONLY behind
        Sentinel) or the master moved."""
        failed = slot.failed
        if failed and self.reconnect_on and not self.reconnect_on.isdisjoint(failed.values()) \
                or self.moving and slot in self.moving:
            self.moving.discard(slot)
            self._break(slot, time.monotonic(), backoff=False)

    def _complete(self, slot: Slot, batch, stats: CommandStats, failed: dict | None) -> None:
        done = time.monotonic()
        index = index_of(int((done - slot.started) * 1_000_000))
        latency = stats.latency
        if type(batch) is PreparedBatch and not failed:  # one update per command name
            for name, count in batch.counts:
                counts = latency.get(name)
                if counts is None:
                    counts = latency[name] = {}
                counts[index] = counts.get(index, 0) + count
            first = batch.names[0]
        else:
            names = batch.names if type(batch) is PreparedBatch else [command[0] for command in batch]
            for position, name in enumerate(names):
                if failed and position in failed:
                    counts = stats.error_latency.setdefault((name, failed[position]), {})
                else:
                    counts = latency.get(name)
                    if counts is None:
                        counts = latency[name] = {}
                counts[index] = counts.get(index, 0) + 1
            first = names[0]
        if self.sample_ratio and self.rng.random() < self.sample_ratio and len(stats.samples) < MAX_SAMPLES:
            kind = next(iter(failed.values())) if failed else ""
            stats.samples.append((first, slot.started, done, kind))
        stats.batches += 1
        slot.batch = None
        self.in_flight -= 1
        self.last_reply = done
        slot.backoff = FIRST_BACKOFF
        self.ready.append(slot)
        if slot.failing_since is not None and not (failed and DISRUPTIVE_ERRORS.intersection(failed.values())) \
                and slot not in self.moving:
            # Served again: the disruption this connection saw is over.
            stats.disruptions.append((slot.failing_since, done, slot.failing_errors, (self.pid, slot.number)))
            slot.failing_since, slot.failing_errors = None, 0

    def _wait_time(self, now: float, sending: bool) -> float:
        wait = IDLE_WAIT
        if sending and self.parked:
            wait = min(wait, max(0.0, self.next_unpark - now))
        if sending and self.schedule.open_loop and self.ready:
            wait = min(wait, max(0.0, self.schedule.next_time() - now))
        return wait

    # -- connections ----------------------------------------------------------------
    def _watch(self, slot: Slot) -> None:
        """Take over a connection redis-py has set up (AUTH, HELLO, SELECT, names, TLS):
        from here on the loop writes to its socket and parses replies itself."""
        sock = getattr(slot.conn, "_sock", None)
        if sock is not None:
            # Blocking, without a timeout: the loop reads only what epoll says is there,
            # and a socket with a timeout costs a poll() before every send and recv.
            sock.settimeout(None)
            slot.sock = sock
            slot.pending = getattr(sock, "pending", None)  # TLS: bytes decrypted but not read
            slot.reader = hiredis.Reader()
            self.poller.register(sock, slot)

    def _close(self, slot: Slot) -> None:
        if slot.sock is not None:
            self.poller.unregister(slot.sock)
            slot.sock = None
        slot.conn.disconnect()

    def _failing(self, slot: Slot, now: float, errors: int) -> None:
        if slot.failing_since is None:
            slot.failing_since = now
        slot.failing_errors += errors

    def _break(self, slot: Slot, now: float, backoff: bool = True) -> None:
        if slot.failing_since is None:
            slot.failing_since = now
        self._close(slot)
        if slot in self.ready:  # an idle connection the server closed
            self.ready.remove(slot)
        slot.batch = None
        slot.retry_at = now + slot.backoff if backoff else now
        if backoff:
            slot.backoff = min(slot.backoff * 2, MAX_BACKOFF)
        self._park(slot)

    def _follow_master(self, now: float) -> None:
        """The Sentinels name a new master: reopen every connection (busy ones once
        their batch is in), which asks the Sentinels for the address. The disruption
        counts from the moment the change was noticed."""
        self.master_moves = self.control.master_moves
        noticed = self.control.master_moved_at
        for slot in self.slots:
            if slot.sock is None:
                continue  # already reconnecting: it will reach the new master
            slot.failing_since = min(slot.failing_since or noticed, noticed)
            if slot.batch is None:
                self._break(slot, now, backoff=False)
            else:
                self.moving.add(slot)

    def _fail_batch(self, slot: Slot, commands, exc: BaseException, now: float, stats: CommandStats) -> None:
        kind = error_type(exc)
        errors = stats.errors
        for command in commands:
            errors[command[0], kind] += 1
        self._failing(slot, now, len(commands))
        self._break(slot, now)

    def _reconnect(self, slot: Slot, now: float) -> bool:
        if now < slot.retry_at:
            return False
        try:
            slot.conn.connect()
        except redis.RedisError:
            slot.conn.disconnect()
            slot.retry_at = now + slot.backoff
            slot.backoff = min(slot.backoff * 2, MAX_BACKOFF)
            return False
        self._watch(slot)
        return True

    def _check_outage(self, now: float) -> None:
        if any(slot.sock is not None for slot in self.slots):
            self.down_since = None
            return
        if self.down_since is None:
            self.down_since = now
        elif now - self.down_since > self.outage_budget:
            raise TargetGone(f"no connection could be re-established for {self.outage_budget:g} s")

    # -- reporting --------------------------------------------------------------------
    def _publish(self, now: float, final: bool = False) -> None:
        connected = sum(1 for slot in self.slots if slot.sock is not None)
        self.outbox.put(Report(self.thread, self.round, self.stats, self.warmup, self.schedule.lag(now), self.max_lag,
                               connected, self.last_reply, final))
        self.stats = CommandStats()
        self.warmup = CommandStats()
        self.max_lag = 0.0

