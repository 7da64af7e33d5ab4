"""Routers: where each command of a batch goes, and the channels a connection needs.

Runs in a worker thread, which owns the router and the connections it serves. A harness
connection (Connection) is what the configuration counts and CLIENT LIST names; it
holds one channel per node it talks to:
- NodeRouter: one node, a standalone server or the master Sentinel names (redis-py's
  Sentinel-managed connection asks the Sentinels on every connect, so reopening a
  connection follows the master);
- ClusterRouter: a Redis Cluster. One channel per master, as memtier_benchmark does
  with shards; each command goes to the master of its key's hash slot, so a batch is
  split per node and each node's share is one write. MOVED updates the slot map and
  resends the command where the cluster says; ASK resends it once, after ASKING.
"""

from __future__ import annotations

import hiredis
import redis
from redis.crc import key_slot

from harness.channel import ASKING_REPLY, Channel

FIRST_BACKOFF = 0.05
# After this many MOVED replies the whole slot map is read again (a reshard or failover
# moved many slots at once).
REFRESH_AFTER = 50
ASKING = hiredis.pack_command(("ASKING",))


class Connection:
    """One harness connection: its channels, the batch it has in flight, and its
    reconnect and disruption state. Carries at most one batch at a time."""

    __slots__ = ("number", "name", "conn", "links", "channels", "main", "active_at", "retry_at", "backoff",
                 "batch", "remaining", "failed", "redirects", "started", "sent_at", "measured",
                 "failing_since", "failing_errors")

    def __init__(self, number: int, name: str = "", conn=None, links: dict | None = None, active_at: float = 0.0):
        self.number = number  # its index in its process
        self.name = name  # CLIENT SETNAME of every channel
        self.conn = conn  # NodeRouter: the redis-py connection (reopened on reconnect)
        self.links = links or {}  # ClusterRouter: redis-py connections made before the start, per node
        self.channels: dict[str, Channel] = {}
        self.main: Channel | None = None  # NodeRouter: the one channel
        self.active_at = active_at  # when it joins the load (ramp)
        self.retry_at = 0.0
        self.backoff = FIRST_BACKOFF
        self.batch = None
        self.remaining = 0  # replies of the batch in flight still to come
        self.failed: dict | None = None  # position -> error type, for error replies
        self.redirects: dict | None = None  # position -> redirections so far
        self.started = 0.0  # the batch's intended start (latency runs from here)
        self.sent_at = 0.0  # when it was written (service time runs from here)
        self.measured = True  # whether the batch counts in the results (not warmup)
        # Since when this connection has been failing (lost, or answering READONLY...),
        # and the operations that failed meanwhile; None while it works.
        self.failing_since: float | None = None
        self.failing_errors = 0

    @property
    def open(self) -> bool:
        return bool(self.channels)


class SendFailed(Exception):
    """A write failed; `unsent` are the positions that were never written."""

    def __init__(self, cause: BaseException, unsent: list[int]):
        super().__init__(str(cause))
        self.cause, self.unsent = cause, unsent


class NodeRouter:
    redirects = False  # MOVED/ASK from a single node are errors like any other
    counts_nodes = False

    def __init__(self, poller, stamped: bool = False):
        self.poller = poller
        self.stamped = stamped  # channels stamp the arrival of replies (harness.channel)

    def open(self, connection: Connection) -> None:
        """Connect (unless redis-py already did) and take the socket over."""
        if getattr(connection.conn, "_sock", None) is None:
            connection.conn.connect()
        channel = Channel("", connection.conn, connection, stamped=self.stamped)
        connection.channels = {"": channel}
        connection.main = channel
        self.poller.register(channel.sock, channel)

    def send(self, connection: Connection, batch) -> None:
        try:
            connection.main.write(batch.data, range(len(batch.ids)))
        except OSError as exc:
            raise SendFailed(exc, []) from exc

    def close(self, connection: Connection) -> None:
        for channel in connection.channels.values():
            self.poller.unregister(channel.sock)
            channel.close()
        connection.channels = {}
        connection.main = None


class ClusterRouter:
    redirects = True
    counts_nodes = True

    def __init__(self, poller, topology, stamped: bool = False):
        self.poller = poller
        self.topology = topology  # harness.cluster.Topology: slot -> master
        self.stamped = stamped  # channels stamp the arrival of replies (harness.channel)
        self.moved = 0  # MOVED replies since the map was last read

    def open(self, connection: Connection) -> None:
        """Adopt the links made before the start, or (on a reconnect) read the slot map
        again, since a master may have changed, and open a channel to every master."""
        if connection.links:
            links, connection.links = connection.links, {}
            for node, conn in links.items():
                self._adopt(connection, node, conn)
            return
        self.topology.refresh()
        for node in self.topology.masters():
            self.channel(connection, node)

    def send(self, connection: Connection, batch) -> None:
        owners, keys = self.topology.owners, batch.keys
        parts: dict[str, list[int]] = {}
        if batch.exec_at >= 0:  # a transaction: one slot (hash-tagged keys), one node
            parts[owners[key_slot(keys[0])]] = list(range(len(keys)))
        else:
            for position, key in enumerate(keys):
                node = owners[key_slot(key)] if key is not None else owners[0]
                parts.setdefault(node, []).append(position)
        commands = batch.commands
        nodes = list(parts.items())
        for number, (node, positions) in enumerate(nodes):
            try:
                channel = self.channel(connection, node)
            except (OSError, redis.RedisError) as exc:
                raise SendFailed(exc, [p for _, later in nodes[number:] for p in later]) from exc
            data = batch.data if len(nodes) == 1 else b"".join([commands[p] for p in positions])
            try:
                channel.write(data, positions)
            except OSError as exc:
                raise SendFailed(exc, [p for _, later in nodes[number + 1:] for p in later]) from exc

    def redirect(self, connection: Connection, position: int, reply: str, kind: str) -> None:
        """Resend one command where the cluster says (raises SendFailed)."""
        node = reply.split(" ", 2)[2]
        if kind == "MOVED":
            self.learn(reply)
        try:
            channel = self.channel(connection, node)
        except (OSError, redis.RedisError) as exc:
            raise SendFailed(exc, [position]) from exc
        command = connection.batch.commands[position]
        try:
            if kind == "ASK":  # (two writes: an array never holds an ASKING, see harness.channel)
                channel.write(ASKING, (ASKING_REPLY,))
            channel.write(command, (position,))
        except OSError as exc:
            raise SendFailed(exc, []) from exc

    def learn(self, reply: str) -> None:
        """A MOVED reply names the slot's master now."""
        _, number, node = reply.split(" ", 2)
        self.topology.owners[int(number)] = node
        self.moved += 1
        if self.moved >= REFRESH_AFTER:
            self.moved = 0
            try:
                self.topology.refresh()
            except redis.RedisError:
                pass  # keep the map as MOVED replies corrected it; a later refresh may succeed

    def channel(self, connection: Connection, node: str) -> Channel:
        channel = connection.channels.get(node)
        if channel is None:
            if not node:
                raise redis.ConnectionError("no master serves this slot")
            conn = self.topology.connection(node, connection.name)
            conn.connect()
            channel = self._adopt(connection, node, conn)
        return channel

    def _adopt(self, connection: Connection, node: str, conn) -> Channel:
        channel = connection.channels[node] = Channel(node, conn, connection, stamped=self.stamped)
        self.poller.register(channel.sock, channel)
        return channel

    def close(self, connection: Connection) -> None:
        for channel in connection.channels.values():
            self.poller.unregister(channel.sock)
            channel.close()
        connection.channels = {}


def cluster_connections(topology, names: list[str], connect) -> list[Connection]:
    """A harness connection per name, each with a connected link to every master.

    `connect(conn)` opens one redis-py connection with the run's retries."""
    connections = []
    for number, name in enumerate(names):
        links = {}
        for node in topology.masters():
            conn = topology.connection(node, name)
            connect(conn)
            links[node] = conn
        connections.append(Connection(number, name, links=links))
    return connections

