"""One worker thread's event loop against a Redis Cluster.

The same loop as harness.loop (schedule, batches, warmup, reports, reconnects with
backoff); what differs is that one harness connection is a set of TCP connections,
one to each master, as memtier_benchmark does with its shards. A batch is split by
the hash slot of each command's key (its first argument): each master's share goes out
in one write on that master's connection, and the batch is done when every reply is
in. So at pipeline 16 the commands of a batch are grouped per node.

Redirections are followed and counted (CommandStats.redirections): MOVED updates the
slot map and resends the command to the named node; ASK resends it there once,
preceded by ASKING. After REFRESH_AFTER MOVED replies the whole map is read again, and
a reconnect (after a node was lost) reads it first, so a failover's new master is
found. A command redirected more than MAX_REDIRECTS times counts as an error of that
kind. Each final reply is also counted for the node that gave it (CommandStats.nodes).

Commands whose keys fall in different slots (a custom template with two keys, say)
go to the first key's node and get the server's CROSSSLOT error, counted as such.
With transaction = true a batch is MULTI ... EXEC on one node: the pipeline workload
gives the batch's keys one hash tag (workloads/pipeline.py); a MOVED inside the
transaction is not followed (it aborts the transaction) but corrects the slot map.
"""

from __future__ import annotations

import collections
import time

import hiredis
import redis
from hiredis import ReplyError
from redis.crc import key_slot

from harness.cluster import Topology
from harness.loop import (DISRUPTIVE_ERRORS, MAX_BACKOFF, READ_SIZE, Slot, ThreadLoop, move_failed_to_errors,
                          reply_error_type)

REFRESH_AFTER = 50
# As redis-py's RedisClusterRequestTTL: bounces while a slot changes hands are brief.
MAX_REDIRECTS = 16
ASKING = hiredis.pack_command(("ASKING",))
ASKING_REPLY = -1  # in a link's queue of expected replies: the +OK of ASKING


class Link:
    """One TCP connection of a harness connection to one master."""

    __slots__ = ("node", "conn", "sock", "reader", "expect", "owner")

    def __init__(self, node: str, conn: redis.Connection, owner: "ClusterSlot"):
        self.node = node
        self.conn = conn
        self.sock = conn._sock
        self.sock.settimeout(None)  # as in harness.loop: no poll() before every send and recv
        self.reader = hiredis.Reader()
        self.expect: collections.deque = collections.deque()  # batch positions, in reply order
        self.owner = owner


class ClusterSlot(Slot):
    """A harness connection to the cluster: a Link per master it has talked to.

    `sock` is True while the links are usable (the base loop only tests it for None)."""

    __slots__ = ("links", "name", "remaining", "packed", "redirects")

    def __init__(self, name: str, active_at: float, number: int = 0):
        super().__init__(None, active_at, number)
        self.name = name  # CLIENT SETNAME of every link
        self.links: dict[str, Link] = {}
        self.remaining = 0  # replies of the batch in flight still to come
        self.packed: list = []  # the batch's encoded commands, to resend on redirection
        self.redirects: dict | None = None  # position -> redirections so far


class ClusterThreadLoop(ThreadLoop):
    def __init__(self, slots, workload, *args, topology: Topology, **kwargs):
        super().__init__(slots, workload, *args, **kwargs)
        self.topology = topology
        self.moved = 0  # MOVED replies since the map was last read

    # -- sending ----------------------------------------------------------------------
    def _send_due(self, now: float) -> None:
        while True:
            due = self._take_due(now)
            if due is None:
                break
            slot, intended, size = due
            measured = intended >= self.clock.warmup_end
            stats = self.stats if measured else self.warmup
            batch, packed = self._encode_batch(slot, size, stats)
            owners = self.topology.owners
            parts: dict[str, list[int]] = {}
            if self.transaction:  # one slot per batch (hash-tagged keys): all to its node
                parts[owners[key_slot(batch[1][1])]] = list(range(len(batch)))
            else:
                for position, command in enumerate(batch):
                    node = owners[key_slot(command[1])] if len(command) > 1 else owners[0]
                    parts.setdefault(node, []).append(position)
            slot.batch, slot.packed, slot.remaining = batch, packed, len(batch)
            slot.position, slot.failed, slot.redirects = 0, None, None
            slot.measured, slot.started, slot.sent_at = measured, intended, now
            self.in_flight += 1
            try:
                for node, positions in parts.items():
                    link = self._link(slot, node)
                    link.expect.extend(positions)
                    link.sock.sendall(b"".join([packed[i] for i in positions]))
            except (OSError, redis.RedisError) as exc:
                self.in_flight -= 1
                self._fail_batch(slot, batch, exc, now, stats)
        lag = self.schedule.lag(now)
        if lag > self.max_lag:
            self.max_lag = lag

    def _link(self, slot: ClusterSlot, node: str) -> Link:
        link = slot.links.get(node)
        if link is None:
            if not node:
                raise redis.ConnectionError("no master serves this slot")
            conn = self.topology.connection(node, slot.name)
            conn.connect()
            link = slot.links[node] = Link(node, conn, slot)
            self.poller.register(link.sock, link)
        return link

    # -- receiving --------------------------------------------------------------------
    def _on_readable(self, link: Link) -> None:
        slot = link.owner
        if slot.links.get(link.node) is not link:
            return  # closed earlier in this same turn, with the rest of its connection
        batch = slot.batch
        try:
            data = link.sock.recv(READ_SIZE)
            pending = getattr(link.sock, "pending", None)  # TLS: decrypted bytes epoll cannot see
            while data and pending is not None and pending():
                data += link.sock.recv(pending())
        except OSError as exc:
            data, failure = b"", exc
        else:
            failure = None
        if not data or batch is None:
            if batch is not None:
                stats = self.stats if slot.measured else self.warmup
                failure = failure or redis.ConnectionError(f"Connection closed by {link.node}.")
                self._fail_batch(slot, self._unanswered(slot, batch, stats), failure, time.monotonic(), stats)
                self.in_flight -= 1
            else:
                self._break(slot, time.monotonic())
            return
        reader = link.reader
        reader.feed(data)
        stats = self.stats if slot.measured else self.warmup
        ok, errors, nulls, nodes = stats.ok, stats.errors, stats.nulls, stats.nodes
        expect = link.expect
        while expect:
            reply = reader.gets()
            if reply is False:
                break
            position = expect.popleft()
            if position == ASKING_REPLY:
                continue  # ASKING's +OK (an error there shows again in the command's reply)
            name = batch[position][0]
            if type(reply) is ReplyError:
                kind = reply_error_type(reply)
                if kind == "MOVED" and self.transaction:
                    # Inside MULTI a redirection aborts the transaction (EXECABORT); it
                    # counts as an error and the map is corrected for the next batch.
                    _, number, node = str(reply).split(" ", 2)
                    self.topology.owners[int(number)] = node
                elif kind in ("MOVED", "ASK") and self._may_redirect(slot, position):
                    if not self._redirect(slot, position, str(reply), kind, stats):
                        return  # the connection failed and starts over; the batch is counted
                    continue
                errors[name, kind] += 1
                if slot.failed is None:
                    slot.failed = {}
                slot.failed[position] = kind
                if kind in DISRUPTIVE_ERRORS:
                    self._failing(slot, time.monotonic(), 1)
            else:
                ok[name] += 1
                if reply is None:
                    nulls[name] += 1
                elif name == "EXEC" and isinstance(reply, list):
                    move_failed_to_errors(batch[1:-1], reply, stats)
            nodes[link.node] += 1
            slot.remaining -= 1
        if slot.batch is not None and slot.remaining == 0:
            self._complete(slot, batch, stats, slot.failed)

    @staticmethod
    def _may_redirect(slot: ClusterSlot, position: int) -> bool:
        """False once a command has bounced MAX_REDIRECTS times (then it is an error)."""
        redirects = slot.redirects = slot.redirects or {}
        redirects[position] = redirects.get(position, 0) + 1
        return redirects[position] <= MAX_REDIRECTS

    def _redirect(self, slot: ClusterSlot, position: int, reply: str, kind: str, stats) -> bool:
        """Resend one command where the cluster says; False if that connection failed."""
        stats.redirections[kind] += 1
        _, number, node = reply.split(" ", 2)
        if kind == "MOVED":
            self.topology.owners[int(number)] = node
            self.moved += 1
            if self.moved >= REFRESH_AFTER:
                self._refresh()
        try:
            link = self._link(slot, node)
            if kind == "ASK":
                link.expect.extend((ASKING_REPLY, position))
                link.sock.sendall(ASKING + slot.packed[position])
            else:
                link.expect.append(position)
                link.sock.sendall(slot.packed[position])
        except (OSError, redis.RedisError) as exc:
            # This command and the rest of the batch fail; the connection starts over.
            self._fail_batch(slot, self._waiting(slot, also=position), exc, time.monotonic(), stats)
            self.in_flight -= 1
            return False
        return True

    def _unanswered(self, slot: ClusterSlot, batch, stats) -> list:
        """The batch's commands still waiting for a reply, on any link."""
        return self._waiting(slot)

    @staticmethod
    def _waiting(slot: ClusterSlot, also: int | None = None) -> list:
        """The batch's commands still waiting for a reply on any link (and `also`)."""
        positions = {p for link in slot.links.values() for p in link.expect if p != ASKING_REPLY}
        if also is not None:
            positions.add(also)
        return [slot.batch[p] for p in sorted(positions)]

    def _refresh(self) -> None:
        self.moved = 0
        try:
            self.topology.refresh()
        except redis.RedisError:
            pass  # keep the map as MOVED replies corrected it; a later refresh may succeed

    # -- connections ------------------------------------------------------------------
    def _watch(self, slot: ClusterSlot) -> None:
        for link in slot.links.values():
            self.poller.register(link.sock, link)
        slot.sock = True if slot.links else None

    def _close(self, slot: ClusterSlot) -> None:
        for link in slot.links.values():
            self.poller.unregister(link.sock)
            link.conn.disconnect()
        slot.links = {}
        slot.sock = None
        slot.batch = None

    def _reconnect(self, slot: ClusterSlot, now: float) -> bool:
        """Read the slot map again (a master may have changed), then open a link to
        every master; on failure, back off like any connection."""
        if now < slot.retry_at:
            return False
        try:
            self.topology.refresh()
            for node in self.topology.masters():
                self._link(slot, node)
        except redis.RedisError:
            self._close(slot)
            slot.retry_at = now + slot.backoff
            slot.backoff = min(slot.backoff * 2, MAX_BACKOFF)
            return False
        slot.sock = True
        return True


def open_cluster_slots(topology: Topology, names: list[str], connect) -> list[ClusterSlot]:
    """A harness connection per name, each linked to every master now.

    `connect(conn)` opens one redis-py connection with the run's retries."""
    slots = []
    for number, name in enumerate(names):
        slot = ClusterSlot(name, active_at=0.0, number=number)
        for node in topology.masters():
            conn = topology.connection(node, name)
            connect(conn)
            slot.links[node] = Link(node, conn, slot)
        slot.sock = True
        slots.append(slot)
    return slots
