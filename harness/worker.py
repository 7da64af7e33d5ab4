"""A client process: its connections, its worker threads, its interval deltas.

Runs only in a forked child. Everything network- or thread-related is created here,
after the fork. The process:
1. ignores SIGINT (the coordinator owns Ctrl-C and says stop through shared memory) and dies
   with the coordinator (PR_SET_PDEATHSIG), so no client outlives it;
2. opens its connections with connect_retries and backoff, named
   harness-<run id>-<process>-<connection> (harness-<run id>-s<shard>-... when sharded),
   preloads (shard 0 only) and reports ready;
3. waits for the start signal, so every process starts at the same moment;
4. runs one Driver (harness.driver) per worker thread and, about once a second, sends the reporter
   one Delta that merges its threads' reports;
5. on stop, lets in-flight operations finish and sends its final Delta.
Failures go to the coordinator as a Failed message before a non-zero exit.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass

import redis
from redis.cluster import RedisCluster

from harness.errors import ExitStatus, HarnessError
from harness.lifecycle import die_with_parent, set_process_name
from harness.cluster import Topology, cluster_client
from harness.coordination import Clock, Control
from harness.driver import Driver, DriverSettings
from harness.pacing import RateProfile
from harness.poller import Poller
from harness.router import ClusterRouter, Connection, NodeRouter, cluster_connections
from harness.messages import Failed, Preloaded, Ready
from harness.relay import relay
from harness.sentinel_watch import SentinelWatch
from harness.subscriber import SubscriberLoop
from harness.plan import Plan, ThreadShare
from harness.settings import RunConfig, uses_tls
from harness.shards import name_stem, stream_seed
from harness.stats import CommandStats, error_type
from harness.target import Endpoint, connection_pool, explain_failure
from workloads import WorkloadFactory, WorkloadSpec

log = logging.getLogger("harness")

PRELOAD_BATCH = 1000



@dataclass
class ClientContext:
    """What a client process gets from the coordinator (inherited through fork)."""

    index: int
    config: RunConfig
    plan: Plan
    endpoint: Endpoint
    run_id: str
    prefix: str
    reports: object  # multiprocessing.Queue to the reporter
    control: object  # multiprocessing.Queue to the coordinator
    # Shared memory written only by the coordinator and polled here. Not Events: a
    # multiprocessing.Event whose waiter is killed (kill -9) blocks every later set().
    stop: object  # multiprocessing.RawValue('b'): 1 = stop sending
    start_at: object  # multiprocessing.RawValue('d'): monotonic start time; 0 = not yet
    coordinator_pid: int


def client_main(ctx: ClientContext) -> None:
    # Ctrl-C and SIGTERM often reach the whole process group (a terminal, systemd,
    # docker stop): only the coordinator acts on them, and stops this process in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(ctx.coordinator_pid)
    set_process_name(f"harness:client{ctx.index}")
    if ctx.config.cpu_affinity == "auto":
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[ctx.index % len(cores)]})
    try:
        _run(ctx)
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, then exit non-zero
        reason = str(exc) if isinstance(exc, HarnessError) else explain_failure(exc)[0]
        ctx.control.put(Failed(ctx.index, reason))
        raise SystemExit(ExitStatus.RUN_FAILED) from None


def _run(ctx: ClientContext) -> None:
    config = ctx.config
    connections = open_connections(ctx)
    if config.preload and ctx.plan.shard == 0:  # the others find the keyspace filled at the start
        ctx.reports.put(Preloaded(ctx.index, preload(ctx, connections[0].conn)))
    subscriber_conns = open_subscriber_connections(ctx)
    control = Control()
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    subscriber = None
    if subscriber_conns:
        subscriber = SubscriberLoop(subscriber_conns, ctx.prefix.encode(), config.channels,
                                    config.pattern_subscribe, None, control, outbox,
                                    thread=ctx.plan.threads_per_process)
        subscriber.subscribe_all()
    shares = ctx.plan.shares_of(ctx.index)
    # Each thread's workload, made before the start signal (encoding key names and
    # values is not part of the timed run).
    workloads = [make_workload(ctx, share) for share in shares]
    # Everything made so far (encoded key names and values) lives for the whole run:
    # keep it out of the garbage collector's scans, which otherwise walk hundreds of
    # thousands of objects now and then in the middle of the load.
    gc.freeze()
    # The load allocates many short-lived batches and frees them by reference counting;
    # the default threshold (700) would run a young-generation collection every few
    # hundred operations for nothing, so collections run 100 times less often.
    gc.set_threshold(70_000, 10, 10)
    ctx.control.put(Ready(ctx.index))
    while not ctx.start_at.value:
        if ctx.stop.value:
            return
        time.sleep(0.002)
    start = ctx.start_at.value  # set ahead of the instant: the drivers are built before it
    clock = Clock(
        start=start,
        deadline=start + config.duration if config.duration else float("inf"),
        warmup_end=start + config.warmup,
    )
    for share in shares:  # the ramp: each connection joins at its planned second
        for index, after in zip(share.connections, share.activation):
            connections[index].active_at = start + after
    outage_budget = config.connect_timeout * (config.connect_retries + 1)
    drivers = []
    for share, workload in zip(shares, workloads):
        # A paced thread reads replies when its next batch is due, timed by the kernel's
        # arrival stamps, which TLS sockets cannot give.
        target = RateProfile.of(config)
        profile = target.scaled(ctx.plan.rate_scale) if target is not None else None
        read_lazily = profile is not None and not uses_tls(config)
        poller = Poller()
        router = ClusterRouter(poller, Topology(ctx.endpoint), stamped=read_lazily) if ctx.endpoint.cluster \
            else NodeRouter(poller, stamped=read_lazily)
        settings = DriverSettings(
            pipeline=config.pipeline, quota=share.quota, offset=_stagger(share, profile, ctx.plan, config),
            outage_budget=outage_budget, thread=share.thread,
            sample_ratio=config.trace_sample_ratio if config.otlp_endpoint else 0.0,
            seed=stream_seed(ctx.run_id, ctx.plan.shard, share.global_index, "driver"),
            # Behind Sentinel, READONLY means the master was demoted: reconnecting asks
            # the Sentinels where the master is now.
            reconnect_on=frozenset({"READONLY"}) if ctx.endpoint.sentinels else frozenset(),
            reply_timeout=config.socket_timeout,
            read_lazily=read_lazily,
            profile=profile,
        )
        drivers.append(Driver([connections[index] for index in share.connections], workload, router, settings,
                              clock, control, outbox))
    # Every process (and every shard) begins at the same instant.
    time.sleep(max(0.0, start - time.monotonic()))
    cpu_at_start = time.process_time()
    errors: list[BaseException] = []
    watch = None
    if ctx.endpoint.sentinels:
        watch = SentinelWatch(ctx.endpoint, control, announce=ctx.index == 0)
        _start_thread(watch.run, "sentinel-watch", errors)
    workers = [_start_thread(driver.run, f"worker-{i}", errors) for i, driver in enumerate(drivers)]
    subscriber_thread = None
    if subscriber is not None:
        subscriber.clock = clock
        subscriber_thread = _start_thread(subscriber.run, "subscriber", errors)
    metrics = None
    if config.prometheus_port or config.pushgateway:
        from harness.metrics import ClientMetrics

        metrics = ClientMetrics()
    relay(ctx, workers, subscriber_thread, outbox, control, metrics, cpu_at_start)
    if watch is not None:
        watch.finished.set()
    if errors:
        raise errors[0]


def _start_thread(target, name: str, errors: list) -> threading.Thread:
    thread = threading.Thread(target=_guarded, args=(target, errors), name=name, daemon=True)
    thread.start()
    return thread


def _guarded(target, errors: list) -> None:
    try:
        target()
    except BaseException as exc:  # noqa: BLE001 - handed to the process's main thread
        errors.append(exc)


def open_connections(ctx: ClientContext) -> list[Connection]:
    """Every connection of this process, connected (with retries and backoff) and named
    harness-<run id>-<process>-<connection>. Against a cluster, each has a link to
    every master."""
    config = ctx.config
    stem = name_stem(ctx.run_id, config)
    names = [f"{stem}-{ctx.index}-{index}" for index in range(ctx.plan.connections_per_process)]
    if ctx.endpoint.cluster:
        topology = Topology(ctx.endpoint)
        try:
            return cluster_connections(topology, names,
                                       lambda conn: _connect_with_retries(conn, config.connect_retries))
        finally:
            topology.close()
    pool = connection_pool(ctx.endpoint, ctx.plan.connections_per_process)
    connections = []
    for index, name in enumerate(names):
        conn = pool.make_connection()
        conn.client_name = name
        _connect_with_retries(conn, config.connect_retries)
        connections.append(Connection(index, name, conn=conn))
    return connections


def _connect_with_retries(conn: redis.Connection, retries: int) -> None:
    delay = 0.1
    for attempt in range(retries + 1):
        try:
            conn.connect()
            return
        except redis.RedisError as exc:
            conn.disconnect()
            reason, retryable = explain_failure(exc)
            if not retryable or attempt == retries:
                raise HarnessError(f"cannot connect: {reason}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def make_workload(ctx: ClientContext, share: ThreadShare):
    spec = WorkloadSpec(
        config=ctx.config,
        key_prefix=ctx.prefix.encode(),
        seed=stream_seed(ctx.run_id, ctx.plan.shard, share.global_index, "workload"),
        partition=share.global_index,
        partitions=ctx.plan.total_threads,
        key_range=ctx.plan.keys,
        cluster=ctx.endpoint.cluster,
    )
    return WorkloadFactory.create(ctx.config.workload, spec)


def open_subscriber_connections(ctx: ClientContext) -> list[redis.Connection]:
    if ctx.config.workload != "pub_sub":
        return []
    pool = connection_pool(ctx.endpoint, ctx.config.subscribers)
    conns = []
    for number in range(ctx.config.subscribers):
        conn = pool.make_connection()
        conn.client_name = f"{name_stem(ctx.run_id, ctx.config)}-{ctx.index}-sub{number}"
        conns.append(conn)
    return conns


def preload(ctx: ClientContext, conn: redis.Connection | None) -> CommandStats:
    """Fill this process's stripe of the keyspace (keys p, p+P, ...), pipelined."""
    if ctx.endpoint.cluster:
        conn = cluster_client(ctx.endpoint)
    workload = make_workload(ctx, ctx.plan.shares_of(ctx.index)[0])
    stats = CommandStats()
    batch: list[tuple] = []
    for index in range(ctx.index, ctx.config.keyspace, ctx.plan.processes):
        batch.extend(workload.preload_commands(index))
        if len(batch) >= PRELOAD_BATCH:
            _send_and_count(conn, batch, stats)
            batch = []
    if batch:
        _send_and_count(conn, batch, stats)
    if ctx.endpoint.cluster:
        conn.close()
    return stats


def _send_and_count(conn, batch: list[tuple], stats: CommandStats) -> None:
    if isinstance(conn, RedisCluster):  # redis-py groups the commands per node
        pipe = conn.pipeline()
        for command in batch:
            pipe.execute_command(*command)
        for command, result in zip(batch, pipe.execute(raise_on_error=False)):
            if isinstance(result, Exception):
                stats.errors[command[0], error_type(result)] += 1
            else:
                stats.ok[command[0]] += 1
        stats.batches += 1
        return
    _send_and_count_on(conn, batch, stats)


def _send_and_count_on(conn: redis.Connection, batch: list[tuple], stats: CommandStats) -> None:
    conn.send_packed_command(conn.pack_commands(batch), check_health=False)
    for command in batch:
        try:
            conn.read_response(disable_decoding=True)
            stats.ok[command[0]] += 1
        except redis.ResponseError as exc:
            stats.errors[command[0], error_type(exc)] += 1
    stats.batches += 1


def _stagger(share: ThreadShare, profile: RateProfile | None, plan: Plan, config: RunConfig) -> float:
    """Spread the schedules of all threads of all shards over one interval (at the
    thread's highest rate) so their sends do not bunch up."""
    rate = profile.peak() if profile is not None else 0.0
    if not rate:
        return 0.0
    interval = config.pipeline / rate
    return interval * (share.global_index * plan.shards + plan.shard) / (plan.total_threads * plan.shards)
