"""How a run is split: processes, threads, connections, request quotas, rates, ramp times.

Pure and table-tested: make_plan(config, cpu_count) decides everything the coordinator
and the client processes need to know about their share, before any fork.

Connections are spread over a process's threads as evenly as possible; each thread
drives its connections from one event loop (see loop.py), so a thread with four
connections keeps four requests (or four pipelines) in flight at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import ConfigError
from harness.settings import RunConfig
from harness.shards import index_and_count, key_slice, share


@dataclass(frozen=True)
class ThreadShare:
    process: int  # client process index, 0-based
    thread: int  # thread index within the process
    global_index: int  # 0 .. total_threads-1: the thread's key partition (within the shard)
    connections: tuple[int, ...]  # connection indexes within the process
    quota: int  # operations to send; -1 = no limit
    rate: float  # operations per second; 0 = unthrottled
    # Seconds after the start at which each of this thread's connections joins (ramp).
    activation: tuple[float, ...]


@dataclass(frozen=True)
class Plan:
    processes: int
    threads_per_process: int
    connections_per_process: int
    shares: tuple[ThreadShare, ...]
    # This process tree is shard `shard` of `shards` (harness/shards.py); 0 of 1 unsharded.
    shard: int = 0
    shards: int = 1
    # The shard's contiguous slice of the keyspace, [low, high).
    keys: tuple[int, int] = (0, 0)

    @property
    def total_threads(self) -> int:
        return self.processes * self.threads_per_process

    @property
    def total_connections(self) -> int:
        return self.processes * self.connections_per_process

    @property
    def rate_scale(self) -> float:
        """The part of the whole run's rate (or stage rates) each thread of this shard
        sends: 1 / (shards x threads)."""
        return 1 / (self.shards * self.total_threads)

    def shares_of(self, process: int) -> tuple[ThreadShare, ...]:
        return tuple(share for share in self.shares if share.process == process)


def resolve_processes(config: RunConfig, cpu_count: int) -> int:
    if config.client_instances == "auto":
        return max(1, cpu_count)
    return int(config.client_instances)


def split_evenly(total: int, parts: int) -> list[int]:
    """[total // parts + 1] * (total % parts) + [total // parts] * rest: sums to total."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def make_plan(config: RunConfig, cpu_count: int) -> Plan:
    processes = resolve_processes(config, cpu_count)
    threads = config.threads_per_client
    connections = config.connections_per_client
    if threads > connections:
        raise ConfigError(
            f"threads_per_client = {threads} ({config.source('threads_per_client')}) is more than "
            f"connections_per_client = {connections} ({config.source('connections_per_client')}): "
            "each thread needs at least one connection"
        )
    total_threads = processes * threads
    total_connections = processes * connections
    shard, shards = index_and_count(config)
    shard_requests = share(config.requests, shard, shards)
    quotas = split_evenly(shard_requests, total_threads) if config.requests else [-1] * total_threads
    thread_rate = config.rate / (shards * total_threads) if config.rate else 0.0
    per_thread = split_evenly(connections, threads)
    shares = []
    for process in range(processes):
        first = 0
        for thread in range(threads):
            indexes = tuple(range(first, first + per_thread[thread]))
            first += per_thread[thread]
            global_index = process * threads + thread
            activation = tuple(
                ramp_time(config.ramp, index * processes + process, total_connections)
                for index in indexes
            )
            shares.append(
                ThreadShare(process, thread, global_index, indexes, quotas[global_index], thread_rate, activation)
            )
    return Plan(processes, threads, connections, tuple(shares), shard, shards,
                key_slice(config.keyspace, shard, shards))


def ramp_time(ramp: float, connection: int, total: int) -> float:
    """When connection number `connection` of `total` joins: one at 0 s, all by `ramp` s.

    Connections are numbered round-robin over processes (index * processes + process),
    so every process gains load at the same pace while the total grows linearly.
    """
    if ramp <= 0 or total <= 1:
        return 0.0
    return ramp * connection / (total - 1)
