"""A client process: its connections, its worker threads, its interval deltas.

Runs only in a forked child. Everything network- or thread-related is created here,
after the fork. The process:
1. ignores SIGINT (the coordinator owns Ctrl-C and says stop through shared memory) and dies
   with the coordinator (PR_SET_PDEATHSIG), so no client outlives it;
2. opens its connections with connect_retries and backoff, named
   harness-<run id>-<process>-<connection>, and reports ready;
3. waits for the start signal, so every process starts at the same moment;
4. runs one ThreadLoop per worker thread and, about once a second, sends the reporter
   one Delta that merges its threads' reports;
5. on stop, lets in-flight operations finish and sends its final Delta.
Failures go to the coordinator as ("failed", process, reason) before a non-zero exit.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass

import redis

from harness.errors import ExitStatus, HarnessError
from harness.lifecycle import die_with_parent, set_process_name
from harness.loop import Clock, Control, Report, Slot, ThreadLoop
from harness.messages import Delta, ProcessEnded
from harness.plan import Plan, ThreadShare
from harness.settings import RunConfig
from harness.stats import CommandStats
from harness.target import Endpoint, connection_pool, explain_failure
from workloads import WorkloadFactory, WorkloadSpec

log = logging.getLogger("harness")

DELTA_EVERY = 1.0


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
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(ctx.coordinator_pid)
    set_process_name(f"harness:client{ctx.index}")
    if ctx.config.cpu_affinity == "auto":
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[ctx.index % len(cores)]})
    try:
        _run(ctx)
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, then exit non-zero
        reason = str(exc) if isinstance(exc, HarnessError) else explain_failure(exc)[0]
        ctx.control.put(("failed", ctx.index, reason))
        raise SystemExit(ExitStatus.RUN_FAILED) from None


def _run(ctx: ClientContext) -> None:
    shares = ctx.plan.shares_of(ctx.index)
    slots = open_connections(ctx)
    ctx.control.put(("ready", ctx.index))
    while not ctx.start_at.value:
        if ctx.stop.value:
            return
        time.sleep(0.002)
    start = ctx.start_at.value
    time.sleep(max(0.0, start - time.monotonic()))  # every process begins at the same instant
    config = ctx.config
    clock = Clock(
        start=start,
        deadline=start + config.duration if config.duration else float("inf"),
        warmup_end=start + config.warmup,
    )
    for share in shares:  # the ramp: each connection joins at its planned second
        for index, after in zip(share.connections, share.activation):
            slots[index].active_at = start + after
    control = Control()
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    outage_budget = config.connect_timeout * (config.connect_retries + 1)
    loops = [
        ThreadLoop(
            [slots[index] for index in share.connections], _workload(ctx, share), config.pipeline,
            share.quota, share.rate, clock, control, outbox, outage_budget,
            offset=_stagger(share, ctx.plan, config), thread=share.thread,
        )
        for share in shares
    ]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_guarded, args=(loop.run, errors), name=f"worker-{i}", daemon=True)
        for i, loop in enumerate(loops)
    ]
    for thread in threads:
        thread.start()
    _relay(ctx, threads, outbox, control)
    if errors:
        raise errors[0]


def _guarded(target, errors: list) -> None:
    try:
        target()
    except BaseException as exc:  # noqa: BLE001 - handed to the process's main thread
        errors.append(exc)


def _relay(ctx: ClientContext, threads, outbox: queue.SimpleQueue, control: Control) -> None:
    """Every DELTA_EVERY seconds ask the threads for their figures and send the reporter
    one Delta that merges them; the last one once every thread is done."""
    latest: dict[int, Report] = {}
    last_reply = 0.0
    next_tick = time.monotonic() + DELTA_EVERY
    while True:
        while any(thread.is_alive() for thread in threads) and time.monotonic() < next_tick:
            if ctx.stop.value:
                control.stopping = True
            time.sleep(min(0.05, max(0.0, next_tick - time.monotonic())))
        next_tick += DELTA_EVERY
        control.publish_round += 1
        delta = _collect_round(threads, outbox, control.publish_round, latest)
        delta.process = ctx.index
        done = not any(thread.is_alive() for thread in threads)
        if done:  # the threads' final reports are in the outbox by now
            _drain(outbox, delta, latest)
        delta.lag = max((report.lag for report in latest.values()), default=0.0)
        delta.connections = sum(report.connections for report in latest.values())
        last_reply = max([last_reply] + [report.last_reply for report in latest.values()])
        delta.final = done
        delta.until = time.monotonic()
        ctx.reports.put(delta)
        if done:
            ctx.reports.put(ProcessEnded(ctx.index, last_reply))
            return


def _collect_round(threads, outbox: queue.SimpleQueue, round_: int, latest: dict) -> Delta:
    """Reports until every running thread has answered `round_` (or 0.5 s passed)."""
    delta = Delta(-1, CommandStats())
    waiting = {index for index, thread in enumerate(threads) if thread.is_alive()}
    deadline = time.monotonic() + 0.5
    while waiting and time.monotonic() < deadline:
        try:
            report = outbox.get(timeout=0.05)
        except queue.Empty:
            waiting = {index for index in waiting if threads[index].is_alive()}
            continue
        _merge(delta, report, latest)
        if report.round >= round_ or report.final:
            waiting.discard(report.thread)
    _drain(outbox, delta, latest)
    return delta


def _drain(outbox: queue.SimpleQueue, delta: Delta, latest: dict) -> None:
    while True:
        try:
            _merge(delta, outbox.get_nowait(), latest)
        except queue.Empty:
            return


def _merge(delta: Delta, report: Report, latest: dict[int, Report]) -> None:
    delta.stats.add(report.stats)
    delta.warmup_ops += report.warmup_ops
    delta.max_lag = max(delta.max_lag, report.max_lag)
    latest[report.thread] = report  # lag and connections are levels: keep each thread's newest


def open_connections(ctx: ClientContext) -> list[Slot]:
    """Every connection of this process, connected (with retries and backoff) and named."""
    config = ctx.config
    pool = connection_pool(ctx.endpoint, ctx.plan.connections_per_process)
    slots = []
    for index in range(ctx.plan.connections_per_process):
        conn = pool.make_connection()
        conn.client_name = f"harness-{ctx.run_id}-{ctx.index}-{index}"
        _connect_with_retries(conn, config.connect_retries)
        slots.append(Slot(conn, active_at=0.0))
    return slots


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


def _workload(ctx: ClientContext, share: ThreadShare):
    config = ctx.config
    spec = WorkloadSpec(
        key_prefix=ctx.prefix.encode(),
        keyspace=config.keyspace,
        key_distribution=config.key_distribution,
        value_size=config.value_size,
        read_ratio=config.read_ratio,
        seed=int(ctx.run_id, 16) * 100003 + share.global_index,
        partition=share.global_index,
        partitions=ctx.plan.total_threads,
    )
    return WorkloadFactory.create(config.workload, spec)


def _stagger(share: ThreadShare, plan: Plan, config: RunConfig) -> float:
    """Spread threads' schedules over one interval so their sends do not bunch up."""
    if not share.rate:
        return 0.0
    interval = config.pipeline / share.rate
    return interval * share.global_index / plan.total_threads
