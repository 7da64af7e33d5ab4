"""The engine's parts without a server: a fake socket that answers like a tiny Redis,
a fake poller, and an injected clock, so timing is exact and nothing sleeps.

Channel: writes, and what is unanswered when it dies. Router: a Cluster batch is split
by each key's slot, MOVED and ASK are followed. Driver: quotas, pacing with latency
from the intended start and service time from the write, one accounting path for
successes, errors, null replies, and indeterminate outcomes.
"""

from __future__ import annotations

import queue
from collections import Counter

import hiredis
import pytest
from redis.crc import key_slot

from harness.channel import Channel
from harness.coordination import Clock, Control
from harness.driver import Driver, DriverSettings
from harness.histogram import index_of, value_of
from harness.pacing import RateProfile
from harness.router import ClusterRouter, Connection, NodeRouter
from harness.settings import resolve
from workloads import WorkloadFactory, WorkloadSpec


class FakeClock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeSocket:
    """Parses what is written and queues a reply per command from `answer`, after
    `delay` seconds of the fake clock (or never, while `hold` is set)."""

    _next_fd = 1000

    def __init__(self, clock: FakeClock, answer, delay: float = 0.0):
        FakeSocket._next_fd += 1
        self.fd = FakeSocket._next_fd
        self.clock, self.answer, self.delay = clock, answer, delay
        self.reader = hiredis.Reader()
        self.outgoing: list[tuple[float, bytes]] = []
        self.commands: list[list[bytes]] = []
        self.hold = False
        self.closed = False
        self.fail_writes = False

    def settimeout(self, _):
        pass

    def fileno(self):
        return self.fd

    def sendall(self, data: bytes):
        if self.fail_writes or self.closed:
            raise BrokenPipeError("fake: broken pipe")
        self.reader.feed(data)
        while (command := self.reader.gets()) is not False:
            self.commands.append(command)
            self.outgoing.append((self.clock.t + self.delay, self.answer(command)))

    def ready(self) -> bool:
        return self.closed or (not self.hold and any(at <= self.clock.t for at, _ in self.outgoing))

    def recv(self, _size: int) -> bytes:
        if self.closed:
            return b""
        due = [reply for at, reply in self.outgoing if at <= self.clock.t]
        self.outgoing = [(at, reply) for at, reply in self.outgoing if at > self.clock.t]
        return b"".join(due)


class FakeConn:
    """Like redis-py's Connection: disconnect drops the socket, connect makes it anew."""

    def __init__(self, sock: FakeSocket):
        self.sock = self._sock = sock
        self.connects = 0

    def connect(self):
        self.connects += 1
        self.sock.closed = self.sock.hold = False
        self.sock.outgoing = []
        self._sock = self.sock

    def disconnect(self):
        self._sock = None


class FakePoller:
    """Ready channels are those whose fake socket has a reply due; a poll with nothing
    ready advances the fake clock by its timeout, as a real wait would."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.channels: dict[int, Channel] = {}

    def register(self, sock, owner):
        self.channels[sock.fileno()] = owner

    def unregister(self, sock):
        self.channels.pop(sock.fileno(), None)

    def poll(self, timeout: float):
        ready = [channel for channel in self.channels.values() if channel.sock.ready()]
        if not ready:
            pending = [at for channel in self.channels.values() for at, _ in channel.sock.outgoing
                       if not channel.sock.hold]
            self.clock.t = min([self.clock.t + timeout, *pending]) if pending else self.clock.t + timeout
        return ready

    def close(self):
        pass


def redis_answer(command: list[bytes]) -> bytes:
    name = command[0].upper()
    if name == b"GET":
        return b"$-1\r\n" if command[1].endswith(b"7") else b"$1\r\nv\r\n"
    if name == b"INCR":
        return b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    if name == b"EXEC":
        return b"*0\r\n"
    return b"+OK\r\n"


def make_workload(name="basic_rw", cluster=False, **options):
    settings = {"workload": name, "keyspace": "1000", **{k: str(v) for k, v in options.items()}}
    config = resolve(None, {}, settings)
    return WorkloadFactory.create(name, WorkloadSpec(config=config, key_prefix=b"t:", seed=7, cluster=cluster)), config


def make_driver(clock, workload, connections, router, quota=-1, rate=0.0, pipeline=1, deadline=float("inf"),
                warmup_end=0.0, reply_timeout=float("inf")):
    settings = DriverSettings(pipeline=pipeline, quota=quota, offset=0.0, outage_budget=5.0,
                              reply_timeout=reply_timeout, profile=RateProfile(rate) if rate else None)
    return Driver(connections, workload, router, settings, Clock(clock.t, deadline, warmup_end), Control(),
                  queue.SimpleQueue(), now=clock)


def run_to_end(driver, turns=100_000):
    if not driver.started:
        driver.start()
    for _ in range(turns):
        if not driver.turn():
            break
    else:
        raise AssertionError("the driver did not finish")
    driver.finish()
    stats = driver.outbox.get_nowait().stats
    while not driver.outbox.empty():
        stats.add(driver.outbox.get_nowait().stats)
    return stats


def standalone(clock, count=2, delay=0.0, answer=redis_answer):
    sockets = [FakeSocket(clock, answer, delay) for _ in range(count)]
    connections = [Connection(i, f"c{i}", conn=FakeConn(sock)) for i, sock in enumerate(sockets)]
    return sockets, connections, NodeRouter(FakePoller(clock))


def test_a_request_quota_is_sent_exactly_and_every_outcome_is_counted_once():
    clock = FakeClock()
    workload, _ = make_workload(read_ratio=0.5, write_mix="SET:50,INCR:50", pipeline=4)
    sockets, connections, router = standalone(clock)
    stats = run_to_end(make_driver(clock, workload, connections, router, quota=1001, pipeline=4))
    sent = [command for sock in sockets for command in sock.commands]
    assert len(sent) == 1001 and stats.total == 1001 and stats.batches == 251  # 250 of 4, one of 1
    by_name = {name: sum(1 for c in sent if c[0].decode() == name) for name in ("GET", "SET", "INCR")}
    assert stats.count_of("GET") == by_name["GET"] and stats.count_of("SET") == by_name["SET"]
    # INCR is answered WRONGTYPE by the fake server: errors, not successes
    assert stats.errors == {("INCR", "WRONGTYPE"): by_name["INCR"]} and stats.ok["INCR"] == 0
    misses = sum(1 for c in sent if c[0] == b"GET" and c[1].endswith(b"7"))
    assert stats.nulls["GET"] == misses > 0
    assert stats.bytes_sent["GET"] == sum(len(hiredis.pack_command(tuple(c))) for c in sent if c[0] == b"GET")
    assert sum(sum(counts.values()) for counts in stats.latency.values()) == stats.ok["GET"] + stats.ok["SET"]


def test_paced_latency_runs_from_the_intended_start_and_service_time_from_the_write():
    clock = FakeClock()
    workload, _ = make_workload("high_throughput", read_ratio=0.0)
    # one connection, replies after 3 ms, at 1,000 batches/s (every 1 ms): it falls behind
    sockets, connections, router = standalone(clock, count=1, delay=0.003)
    stats = run_to_end(make_driver(clock, workload, connections, router, quota=10, rate=1000.0))
    assert stats.ok["SET"] == 10
    service = stats.service["SET"]
    assert set(service) == {index_of(3000)}  # always 3 ms from the write
    latency = sorted(value_of(index) for index, n in stats.latency["SET"].items() for _ in range(n))
    # batch k was intended at k ms but sent at 3k ms: latency 3 ms + 2k ms of queueing
    assert latency == pytest.approx([3000 + 2000 * k for k in range(10)], rel=0.002)


def test_a_connection_lost_mid_batch_leaves_its_unanswered_operations_indeterminate():
    clock = FakeClock()
    workload, _ = make_workload("high_throughput", read_ratio=0.0, pipeline=8)
    sockets, connections, router = standalone(clock, count=1)
    driver = make_driver(clock, workload, connections, router, quota=16, pipeline=8)
    sockets[0].hold = True  # the server runs the first batch but its replies never arrive:
    driver.start()
    driver.turn()
    assert len(sockets[0].commands) == 8
    sockets[0].closed = True  # the socket dies first
    stats = run_to_end(driver)
    assert stats.indeterminate == {("SET", "connection"): 8}
    assert stats.errors == {} and stats.ok["SET"] == 8  # the second batch went out on the reopened connection
    assert connections[0].conn.connects == 1


def test_replies_that_came_before_a_connection_died_count_as_answered_and_only_the_rest_are_indeterminate():
    # A batch's replies are read as one array (harness.channel): when the socket dies
    # with the array half read, the replies that did arrive are parsed again from the
    # bytes the channel kept, nulls and errors included.
    clock = FakeClock()
    workload, _ = make_workload(read_ratio=0.5, write_mix="SET:50,INCR:50", pipeline=8)
    misses = lambda command: b"$-1\r\n" if command[0] == b"GET" else redis_answer(command)  # noqa: E731
    sockets, connections, router = standalone(clock, count=1, answer=misses)
    driver = make_driver(clock, workload, connections, router, quota=8, pipeline=8)
    sock = sockets[0]
    sock.hold = True
    driver.start()
    driver.turn()
    assert len(sock.commands) == 8
    sock.outgoing = [(at if number < 5 else float("inf"), reply) for number, (at, reply) in enumerate(sock.outgoing)]
    sock.hold = False
    driver.turn()  # five of the eight replies are read: no whole array yet
    assert len(sock.outgoing) == 3 and driver.busy == 1
    sock.closed = True
    stats = run_to_end(driver)
    first, rest = sock.commands[:5], sock.commands[5:]
    names = [command[0].decode() for command in first]
    assert stats.indeterminate == dict(Counter((command[0].decode(), "connection") for command in rest))
    assert stats.errors == dict(Counter((name, "WRONGTYPE") for name in names if name == "INCR"))
    assert stats.nulls["GET"] == names.count("GET")
    assert {name: stats.ok[name] for name in ("GET", "SET")} == {name: names.count(name) for name in ("GET", "SET")}
    assert stats.nulls["GET"] and stats.errors and stats.indeterminate  # the draw covers every kind of outcome


def test_a_transaction_counts_each_command_by_its_item_in_the_exec_reply():
    def answer(command):  # every command queues; EXEC says the second of four failed
        name = command[0].upper()
        if name == b"MULTI":
            return b"+OK\r\n"
        if name == b"EXEC":
            return b"*4\r\n+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:1\r\n+OK\r\n"
        return b"+QUEUED\r\n"

    clock = FakeClock()
    workload, _ = make_workload("pipeline", transaction="true", pipeline=4)
    sockets, connections, router = standalone(clock, count=1, answer=answer)
    stats = run_to_end(make_driver(clock, workload, connections, router, quota=12, pipeline=4))
    sent = sockets[0].commands
    assert len(sent) == 3 * 6 and stats.ok["MULTI"] == stats.ok["EXEC"] == 3
    second = Counter(sent[start + 2][0].decode() for start in range(0, 18, 6))  # MULTI, 1st, 2nd, ...
    assert stats.errors == {(name, "WRONGTYPE"): n for name, n in second.items()}
    assert stats.total == 18 and stats.total_errors == 3


def test_a_write_that_fails_counts_its_batch_indeterminate_and_reconnects_with_backoff():
    clock = FakeClock()
    workload, _ = make_workload("high_throughput", read_ratio=0.0, pipeline=4)
    sockets, connections, router = standalone(clock, count=1)
    sockets[0].fail_writes = True
    driver = make_driver(clock, workload, connections, router, quota=8, pipeline=4)
    driver.start()
    driver.turn()
    sockets[0].fail_writes = False
    stats = run_to_end(driver)
    # a write that raised may have reached the server in part: indeterminate
    assert stats.indeterminate == {("SET", "connection"): 4} and stats.ok["SET"] == 4
    assert clock.t - 100.0 >= 0.05 - 1e-9  # reopened only after the first backoff (50 ms)


def test_warmup_operations_are_kept_apart():
    clock = FakeClock()
    workload, _ = make_workload("high_throughput", read_ratio=0.0)
    sockets, connections, router = standalone(clock, count=1, delay=0.001)
    driver = make_driver(clock, workload, connections, router, rate=1000.0, deadline=clock.t + 0.02,
                         warmup_end=clock.t + 0.01)
    measured = run_to_end(driver)
    assert measured.ok["SET"] == 10  # intended at 10..19 ms; 0..9 ms were warmup


def cluster_setup(clock, answer_for):
    """Three fake masters owning slots 0-5460, 5461-10922, 10923-16383."""
    class Topology:
        def __init__(self):
            self.owners = ["a:1"] * 5461 + ["b:2"] * 5462 + ["c:3"] * 5461
            self.refreshes = 0

        def masters(self):
            return ["a:1", "b:2", "c:3"]

        def refresh(self):
            self.refreshes += 1

        def connection(self, node, name):
            return FakeConn(FakeSocket(clock, answer_for(node)))

    topology = Topology()
    connection = Connection(0, "c0", links={node: topology.connection(node, "c0") for node in topology.masters()})
    return topology, connection, ClusterRouter(FakePoller(clock), topology)


def test_a_cluster_batch_goes_to_each_keys_master_and_moved_is_followed_once():
    clock = FakeClock()
    owner = {"a:1": range(0, 5461), "b:2": range(5461, 10923), "c:3": range(10923, 16384)}
    moved_slot = next(key_slot(b"t:%d" % k) for k in range(1000) if key_slot(b"t:%d" % k) < 5461)

    def answer_for(node):
        def answer(command):
            slot = key_slot(command[1])
            if node == "a:1" and slot == moved_slot:  # the map is stale for one slot: it moved to c
                return b"-MOVED %d c:3\r\n" % slot
            assert slot in owner[node] or (node == "c:3" and slot == moved_slot), (node, slot)
            return b"+OK\r\n" if command[0] == b"SET" else b"$1\r\nv\r\n"
        return answer

    topology, connection, router = cluster_setup(clock, answer_for)
    workload, _ = make_workload("high_throughput", cluster=True, pipeline=16)
    stats = run_to_end(make_driver(clock, workload, [connection], router, quota=4000, pipeline=16))
    assert stats.total == 4000 and stats.errors == {}
    assert stats.redirections["MOVED"] == 1  # then the map knows
    assert topology.owners[moved_slot] == "c:3"
    assert sum(stats.nodes.values()) == 4000 and all(stats.nodes[node] > 1000 for node in owner)


def test_ask_is_resent_after_asking_and_counted_where_it_was_answered():
    clock = FakeClock()
    asked = []

    def answer_for(node):
        def answer(command):
            if command[0] == b"ASKING":
                asked.append(node)
                return b"+OK\r\n"
            if node != "b:2" and len(asked) < 3 and command[0] == b"SET":
                return b"-ASK %d b:2\r\n" % key_slot(command[1])
            return b"+OK\r\n"
        return answer

    topology, connection, router = cluster_setup(clock, answer_for)
    workload, _ = make_workload("high_throughput", cluster=True, read_ratio=0.0, pipeline=1)
    stats = run_to_end(make_driver(clock, workload, [connection], router, quota=50))
    assert stats.ok["SET"] == 50 and stats.redirections["ASK"] == 3 and asked == ["b:2"] * 3
    assert topology.owners.count("b:2") == 5462  # ASK does not change the map


def test_the_engine_asks_workloads_nothing_but_next_batch():
    """No getattr probing of workloads and no batch type checks in the engine."""
    import pathlib
    import re

    engine = ["driver.py", "router.py", "channel.py", "worker.py"]
    root = pathlib.Path(__file__).resolve().parents[2] / "harness"
    for name in engine:
        text = (root / name).read_text()
        assert not re.search(r"getattr\((self\.)?workload", text), name
        assert not re.search(r"type\(batch\) is|isinstance\(batch", text), name
        assert "PreparedBatch" not in text and "prepacked" not in text and "ring" not in re.findall(r"\bring\b", text)
