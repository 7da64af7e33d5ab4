"""The driver: one worker thread's loop over its connections - when each batch goes
(pacing, request quota, ramp, warmup, stop), what comes back, and how it is counted.

Runs in a client process, one per worker thread, after the fork. The thread owns its
connections, its workload, its router and its stats: nothing is shared with another
thread except the Control flags and the outbox the process drains.

Each connection carries at most one batch (`pipeline` operations) in flight. A turn
sends a batch on every ready connection that is due, then waits on epoll for replies,
so a thread with k connections keeps k batches in flight. A paced thread on plain TCP
instead sleeps until its next batch is due and then reads what came meanwhile, timed by
the kernel's arrival stamps (harness.channel): on a virtual machine a wake-up costs as
much CPU as a few operations. Batches come from the workload (workloads.base:
next_batch), go out through the router (one node, Sentinel's master, or a Redis
Cluster's slot owners: harness.router), one write per node, and replies are parsed per
channel (harness.channel).

One accounting path (harness.accounting): a batch's successes, request bytes, latency
(from its intended start) and service time (from its write) are added per command id
to a Tally when its last reply is in, and settled into CommandStats when published;
error replies, null replies and redirections are added as they are parsed. Operations
written on a connection that dies (or stays silent for socket_timeout) before their
replies come are `indeterminate`: the server may or may not have run them. Operations
that could not be written at all fail as `connection` errors.

A connection that fails is closed and reopened with backoff (50 ms doubling to 500 ms)
while the others carry on. If a thread has had no working connection for
`outage_budget` seconds, the target is treated as gone and the thread raises TargetGone.
"""

from __future__ import annotations

import collections
import os
import queue
import random
import time
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_

import redis
from hiredis import ReplyError

from harness.accounting import Tally, count_answered, count_error, count_lost
from harness.channel import ASKING_REPLY
from harness.coordination import Clock, Control, Report
from harness.errors import TargetError
from harness.histogram import EXACT_BELOW, index_of
from harness.pacing import RateProfile, Schedule
from harness.router import FIRST_BACKOFF, Connection, SendFailed
from harness.stats import CommandStats, error_type, reply_error_type

# Trace samples a thread keeps per report (about a second), whatever the ratio.
MAX_SAMPLES = 200
MAX_BACKOFF = 0.5
# Longest sleep when nothing is in flight, so stop requests are seen promptly.
IDLE_WAIT = 0.05
# As redis-py's RedisClusterRequestTTL: bounces while a slot changes hands are brief.
MAX_REDIRECTS = 16

# Error replies that mean the server cannot serve this connection right now (a demoted
# master, a node loading or without quorum): they open a disruption like a lost connection.
DISRUPTIVE_ERRORS = frozenset({"READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"})
NoneType = type(None)


class TargetGone(TargetError):
    pass


@dataclass(frozen=True)
class DriverSettings:
    pipeline: int
    quota: int  # operations to send; -1 = no limit
    offset: float  # this thread's schedule starts this long after the clock's start
    outage_budget: float
    thread: int = 0
    sample_ratio: float = 0.0  # share of batches kept as trace samples
    seed: int = 0
    # Error replies after which the connection is reopened: READONLY behind Sentinel,
    # where reconnecting asks the Sentinels for the new master.
    reconnect_on: frozenset = frozenset()
    reply_timeout: float = float("inf")  # socket_timeout: a batch unanswered this long
    # Paced runs on stamped channels: sleep until the next batch is due and read the
    # replies that came meanwhile then, timed by their arrival (harness.channel), rather
    # than waking for every reply: a wake-up costs more than the operation it serves.
    read_lazily: bool = False
    profile: RateProfile | None = None  # this thread's target rate over time; None: closed loop


class Driver:
    def __init__(self, connections: list[Connection], workload, router, settings: DriverSettings, clock: Clock,
                 control: Control, outbox: queue.SimpleQueue, now=time.monotonic, sleep=time.sleep):
        self.connections = connections
        self.workload = workload
        self.names = workload.commands
        self.router = router
        self.settings = settings
        self.pipeline = settings.pipeline
        self.quota = settings.quota
        self.schedule = Schedule(0.0, settings.pipeline, clock.start + settings.offset, clock.deadline,
                                 settings.profile)
        self.clock = clock
        self.control = control
        self.outbox = outbox
        self.now = now  # injected in tests
        self.sleep = sleep
        self.read_lazily = settings.read_lazily and self.schedule.open_loop
        self.sample_ratio, self.reconnect_on = settings.sample_ratio, settings.reconnect_on
        self.pid = os.getpid()  # with a connection's number, names it in disruption reports
        self.rng = random.Random(settings.seed)
        self.round = 0
        self.started = False
        self.ready: collections.deque[Connection] = collections.deque()
        self.parked: list[Connection] = []
        self.next_unpark = float("inf")
        self.busy = 0  # connections with a batch in flight
        self.stats = CommandStats()
        self.warmup = CommandStats()
        self.tally = Tally(len(self.names))  # answered batches, settled into stats when published
        self.warmup_tally = Tally(len(self.names))
        self.max_lag = 0.0
        self.last_reply = 0.0
        self.first_send = 0.0  # when the first batch went out (start skew between shards)
        self.down_since: float | None = None
        self.master_moves = 0  # the last Control.master_moves acted on
        self.moving: set[Connection] = set()  # busy connections to reopen once their batch is in

    # -- the loop -------------------------------------------------------------------
    def run(self) -> None:
        self.start()
        try:
            while self.turn():
                pass
        finally:
            self.finish()

    def start(self) -> None:
        """Take over the connections made before the start; every connection waits for
        its ramp second (parked)."""
        self.started = True
        for connection in self.connections:
            if connection.links or getattr(connection.conn, "_sock", None) is not None:
                self.router.open(connection)
            self._park(connection)

    def turn(self) -> bool:
        """One pass: publish if asked, send what is due, handle what arrived. False
        when the thread is done (nothing more to send, nothing in flight)."""
        now = self.now()
        control = self.control
        sending = not control.stopping and self.quota != 0 and not self.schedule.finished(now)
        if not sending and not self.busy:
            return False
        if control.publish_round != self.round:
            self.round = control.publish_round
            self._publish(now)
            if self.busy:
                self._expire(now)
        if control.master_moves != self.master_moves:
            self._follow_master(now)
        if sending:
            if self.parked and now >= self.next_unpark:
                self._unpark(now)
            if self.ready:
                self._send_due(now)
            elif not self.busy:
                self._check_outage(now)
        wait = self._wait_time(now, sending)
        if self.read_lazily and sending and wait > 0:
            self.sleep(wait)  # replies wait in the socket buffers, stamped with their arrival
            wait = 0.0
        for channel in self.router.poller.poll(wait):
            self._on_readable(channel)
        return True

    def finish(self) -> None:
        for connection in self.connections:  # disruptions still open: not recovered within the run
            if connection.failing_since is not None:
                self.stats.disruptions.append((connection.failing_since, None, connection.failing_errors,
                                               (self.pid, connection.number)))
        self._publish(self.now(), final=True)
        for connection in self.connections:
            self._close(connection)
        self.router.poller.close()

    # Connections are ready (open, active, idle: a deque the send loop pops from, so a
    # turn costs nothing per busy connection), busy (a batch in flight), or parked
    # (before their ramp second, or waiting to reconnect), looked at again only when the
    # earliest of them is due.
    def _park(self, connection: Connection) -> None:
        self.parked.append(connection)
        self.next_unpark = min(self.next_unpark, max(connection.active_at, connection.retry_at))

    def _unpark(self, now: float) -> None:
        still, self.parked, self.next_unpark = self.parked, [], float("inf")
        for connection in still:
            if now >= connection.active_at and (connection.open or self._reconnect(connection, now)):
                self.ready.append(connection)
            else:
                self._park(connection)

    # -- sending ----------------------------------------------------------------------
    def _send_due(self, now: float) -> None:
        schedule, ready, pipeline = self.schedule, self.ready, self.pipeline
        warmup_end, next_batch, router = self.clock.warmup_end, self.workload.next_batch, self.router
        open_loop = schedule.open_loop
        while ready and self.quota:
            if open_loop:
                intended = schedule.due(now)
                if intended is None:
                    break
                schedule.taken()
            elif now < schedule.end:  # closed loop: due now
                intended = now
            else:
                break
            size = pipeline
            if self.quota > 0:
                size = min(pipeline, self.quota)
                self.quota -= size
            connection = ready.popleft()
            batch = next_batch(size, connection.number)
            # An operation belongs to the results when its intended start is after warmup.
            measured = intended >= warmup_end
            connection.batch = batch
            connection.remaining = len(batch.ids)
            connection.failed = connection.redirects = None
            connection.started, connection.sent_at, connection.measured = intended, now, measured
            self.busy += 1
            try:
                router.send(connection, batch)
            except SendFailed as failure:
                self._lose(connection, failure.cause, now, failure.unsent)
        lag = schedule.lag(now)
        if lag > self.max_lag:
            self.max_lag = lag
        if not self.first_send and self.busy:  # (busy only grows by sending)
            self.first_send = now

    # -- receiving --------------------------------------------------------------------
    def _on_readable(self, channel) -> None:
        """Parse what arrived; when the batch's last reply is in, record the batch."""
        connection = channel.owner
        if connection.channels.get(channel.node) is not channel:
            return  # closed earlier in this same turn, with the rest of its connection
        batch = connection.batch
        try:
            data = channel.receive()
            failure = None if data else redis.ConnectionError(f"Connection closed by server {channel.node}.")
        except OSError as exc:
            data, failure = b"", exc
        if failure is not None or batch is None:  # closed, failed, or data nobody asked for
            if batch is not None:
                self._lose(connection, failure, self.now())
            else:
                self._break(connection, self.now())
            return
        reader, expect = channel.reader, channel.expect
        reader.feed(data)
        gets = reader.gets
        stats = self.stats if connection.measured else self.warmup
        remaining = connection.remaining
        answered = 0
        while expect:
            reply = gets()
            if reply is False:  # the rest has not arrived yet
                break
            position = expect.popleft()
            if type(position) is int:
                counted = self._answer(connection, channel, position, reply, stats)
            else:  # a whole write's replies, as one list (harness.channel)
                channel.kept = None
                counted = self._answer_write(connection, channel, position, reply, stats)
            if counted is None:
                return  # the connection failed; the batch is accounted for
            answered += counted
        if answered:
            remaining -= answered
            connection.remaining = remaining
            if self.router.counts_nodes:
                stats.nodes[channel.node] += answered
        if remaining == 0:
            self._complete(connection, stats, self.now() - channel.age)

    def _answer(self, connection: Connection, channel, position: int, reply, stats) -> int | None:
        """One reply: 1 when it answers its command, 0 when that answer is still to come
        (redirected) or it was an ASKING's; None: the connection failed while redirecting."""
        if reply is None:
            stats.nulls[self.names[connection.batch.ids[position]]] += 1
        elif type(reply) is ReplyError:
            outcome = self._reply_error(connection, channel, position, reply, stats)
            return None if outcome is None else int(outcome)
        elif position == ASKING_REPLY:
            return 0
        elif position == connection.batch.exec_at and type(reply) is list:
            self._transaction_outcomes(connection, reply)
        return 1

    def _answer_write(self, connection: Connection, channel, positions, replies: list, stats) -> int | None:
        """The replies of one write, read as one list: null replies and a transaction's
        EXEC are found from a set of the replies' types (made in C); a write holding an
        error is answered a reply at a time, since an error may be a redirection. How
        many were answered; None: the connection failed while redirecting."""
        kinds = set(map(type, replies))
        if ReplyError in kinds:
            answered = 0
            for position, reply in zip(positions, replies):
                counted = self._answer(connection, channel, position, reply, stats)
                if counted is None:
                    return None
                answered += counted
            return answered
        if NoneType in kinds:
            names, ids = self.names, connection.batch.ids
            for position in compress(positions, map(is_, replies, repeat(None))):
                stats.nulls[names[ids[position]]] += 1
        exec_at = connection.batch.exec_at
        if exec_at >= 0 and positions[-1] == exec_at and type(replies[-1]) is list:
            self._transaction_outcomes(connection, replies[-1])  # EXEC ends its write
        return len(replies)

    def _answered_before_failure(self, connection: Connection, position: int, reply) -> None:
        """A reply that arrived before its connection failed (parsed again from what the
        channel kept): a null reply or an error is counted as such; the rest are
        answered (count_lost)."""
        stats = self.stats if connection.measured else self.warmup
        if reply is None:
            stats.nulls[self.names[connection.batch.ids[position]]] += 1
        elif type(reply) is ReplyError:
            self._failed(connection, position, reply_error_type(reply), stats)
        elif position == connection.batch.exec_at and type(reply) is list:
            self._transaction_outcomes(connection, reply)

    def _reply_error(self, connection: Connection, channel, position: int, reply: ReplyError, stats):
        """True: an answer (an error, counted); False: redirected, answer still to come;
        None: the connection failed while redirecting."""
        if position == ASKING_REPLY:
            return False  # ASKING refused: the command's own reply says what happened
        kind = reply_error_type(reply)
        if kind in ("MOVED", "ASK") and self.router.redirects:
            if connection.batch.exec_at >= 0:
                # Inside MULTI a redirection aborts the transaction (EXECABORT); it counts
                # as an error and the map is corrected for the next batch.
                if kind == "MOVED":
                    self.router.learn(str(reply))
            elif self._may_redirect(connection, position):
                stats.redirections[kind] += 1
                try:
                    self.router.redirect(connection, position, str(reply), kind)
                except SendFailed as failure:
                    self._lose(connection, failure.cause, self.now(), failure.unsent)
                    return None
                return False
        self._failed(connection, position, kind, stats)
        return True

    def _failed(self, connection: Connection, position: int, kind: str, stats) -> None:
        count_error(stats, self.names, connection.batch, position, kind)
        if connection.failed is None:
            connection.failed = {}
        connection.failed[position] = kind
        if kind in DISRUPTIVE_ERRORS:
            self._failing(connection, self.now(), 1)

    def _transaction_outcomes(self, connection: Connection, replies: list) -> None:
        """A command inside MULTI/EXEC was answered QUEUED; its real outcome is its item
        in EXEC's reply."""
        stats = self.stats if connection.measured else self.warmup
        for position, reply in enumerate(replies, start=1):
            if type(reply) is ReplyError:
                self._failed(connection, position, reply_error_type(reply), stats)

    @staticmethod
    def _may_redirect(connection: Connection, position: int) -> bool:
        """False once a command has bounced MAX_REDIRECTS times (then it is an error)."""
        redirects = connection.redirects = connection.redirects or {}
        redirects[position] = redirects.get(position, 0) + 1
        return redirects[position] <= MAX_REDIRECTS

    def _complete(self, connection: Connection, stats: CommandStats, done: float) -> None:
        """The batch's last reply came at `done`: successes, latency and service time per
        command."""
        batch, failed, names = connection.batch, connection.failed, self.names
        done = max(done, connection.sent_at)  # a kernel stamp read on another clock may be a hair early
        latency = int((done - connection.started) * 1_000_000)
        service = int((done - connection.sent_at) * 1_000_000)
        count_answered(self.tally if connection.measured else self.warmup_tally, stats, names, batch, failed,
                       latency if latency < EXACT_BELOW else index_of(latency),
                       service if service < EXACT_BELOW else index_of(service))
        if self.sample_ratio and self.rng.random() < self.sample_ratio \
                and len(stats.samples) < MAX_SAMPLES:
            kind = next(iter(failed.values())) if failed else ""
            stats.samples.append((names[batch.ids[0]], connection.started, done, kind))
        connection.batch = None
        self.busy -= 1
        self.last_reply = done
        connection.backoff = FIRST_BACKOFF
        if connection.failing_since is not None and connection not in self.moving \
                and not (failed and DISRUPTIVE_ERRORS.intersection(failed.values())):
            # Served again: the disruption this connection saw is over.
            stats.disruptions.append((connection.failing_since, done, connection.failing_errors,
                                      (self.pid, connection.number)))
            connection.failing_since, connection.failing_errors = None, 0
        reconnect_on = self.reconnect_on
        if failed and reconnect_on and not reconnect_on.isdisjoint(failed.values()) or connection in self.moving:
            # Reopen: its last batch said so (READONLY behind Sentinel), or the master moved.
            self.moving.discard(connection)
            self._break(connection, done, backoff=False)
        else:
            self.ready.append(connection)

    # -- failures ---------------------------------------------------------------------
    def _lose(self, connection: Connection, exc: BaseException, now: float, unsent=()) -> None:
        """The connection failed with a batch in flight. Written and unanswered:
        indeterminate; never written (`unsent`): failed with the error's type; answered:
        counted as answered. The batch ends here and the connection starts over."""
        unsent = set(unsent)
        unanswered: set[int] = set()
        for channel in connection.channels.values():
            answered, never = channel.outstanding()
            unanswered.update(never)
            for position, reply in answered:
                self._answered_before_failure(connection, position, reply)
        unanswered -= unsent
        count_lost(self.stats if connection.measured else self.warmup, self.names, connection.batch,
                   connection.failed, unanswered, unsent, error_type(exc))
        self._failing(connection, now, len(unanswered) + len(unsent))
        connection.batch = None
        self.busy -= 1
        self._break(connection, now)

    def _expire(self, now: float) -> None:
        """Batches unanswered for socket_timeout seconds: their connections start over
        and what they had written is indeterminate (looked at once a second)."""
        timeout = self.settings.reply_timeout
        for connection in self.connections:
            if connection.batch is not None and now - connection.sent_at > timeout:
                self._lose(connection, redis.TimeoutError("no reply within socket_timeout"), now)

    def _failing(self, connection: Connection, now: float, errors: int) -> None:
        if connection.failing_since is None:
            connection.failing_since = now
        connection.failing_errors += errors

    def _close(self, connection: Connection) -> None:
        self.router.close(connection)
        if connection.conn is not None:
            connection.conn.disconnect()

    def _break(self, connection: Connection, now: float, backoff: bool = True) -> None:
        if connection.failing_since is None:
            connection.failing_since = now
        self._close(connection)
        if connection in self.ready:  # an idle connection the server closed
            self.ready.remove(connection)
        connection.batch = None
        connection.retry_at = now + connection.backoff if backoff else now
        if backoff:
            connection.backoff = min(connection.backoff * 2, MAX_BACKOFF)
        self._park(connection)

    def _reconnect(self, connection: Connection, now: float) -> bool:
        if now < connection.retry_at:
            return False
        try:
            self.router.open(connection)
        except (OSError, redis.RedisError):
            self._close(connection)
            connection.retry_at = now + connection.backoff
            connection.backoff = min(connection.backoff * 2, MAX_BACKOFF)
            return False
        return True

    def _follow_master(self, now: float) -> None:
        """The Sentinels name a new master: reopen every connection (busy ones once
        their batch is in), which asks the Sentinels for the address. The disruption
        counts from the moment the change was noticed."""
        self.master_moves = self.control.master_moves
        noticed = self.control.master_moved_at
        for connection in self.connections:
            if not connection.open:
                continue  # already reconnecting: it will reach the new master
            connection.failing_since = min(connection.failing_since or noticed, noticed)
            if connection.batch is None:
                self._break(connection, now, backoff=False)
            else:
                self.moving.add(connection)

    def _check_outage(self, now: float) -> None:
        if any(connection.open for connection in self.connections):
            self.down_since = None
            return
        if self.down_since is None:
            self.down_since = now
        elif now - self.down_since > self.settings.outage_budget:
            raise TargetGone(f"no connection could be re-established for {self.settings.outage_budget:g} s")

    def _wait_time(self, now: float, sending: bool) -> float:
        wait = IDLE_WAIT
        if sending and self.parked:
            wait = min(wait, max(0.0, self.next_unpark - now))
        if sending and self.schedule.open_loop and (self.ready or self.read_lazily):
            # (Reading lazily, the replies that free a connection are read at that time too.)
            wait = min(wait, max(0.0, self.schedule.next_time() - now))
        return wait

    # -- reporting --------------------------------------------------------------------
    def _publish(self, now: float, final: bool = False) -> None:
        self.tally.settle(self.stats, self.names)
        self.warmup_tally.settle(self.warmup, self.names)
        connected = sum(1 for connection in self.connections if connection.open)
        self.outbox.put(Report(self.settings.thread, self.round, self.stats, self.warmup, self.schedule.lag(now),
                               self.max_lag, connected, self.last_reply, final, first_send=self.first_send))
        self.stats = CommandStats()
        self.warmup = CommandStats()
        self.max_lag = 0.0
