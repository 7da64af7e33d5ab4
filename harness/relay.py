"""Inside a client process: merge the worker threads' reports into one Delta a second.

Runs on the client process's main thread. Each DELTA_EVERY seconds it bumps
Control.publish_round; every thread answers at its next loop turn with a Report for
that round, so the merged Delta covers the same span for all of them. It also passes
the coordinator's stop request on to the threads (Control.stopping) and tells the
subscriber thread when the publishers are done.

Each Delta goes to the reporter and, as a copy, to the coordinator: the copy is this
process's heartbeat (a process silent for heartbeat_timeout is killed) and what the
coordinator writes a result file from if the reporter dies.
"""

from __future__ import annotations

import queue
import resource
import time

from harness.coordination import Control, Report
from harness.messages import REPORTER_GONE, Delta, Heartbeat, ProcessEnded
from harness.stats import CommandStats

DELTA_EVERY = 1.0


def relay(ctx, workers: list, subscriber, outbox: queue.SimpleQueue, control: Control, metrics=None,
          cpu_at_start: float = 0.0) -> None:
    """Every DELTA_EVERY seconds ask the threads for their figures and send the reporter
    one Delta that merges them; the last one once every thread is done.
    `cpu_at_start`: the process's CPU time when the load began."""
    threads = workers + ([subscriber] if subscriber else [])
    latest: dict[int, Report] = {}
    last_reply = 0.0
    next_tick = time.monotonic() + DELTA_EVERY
    while True:
        while any(thread.is_alive() for thread in threads) and time.monotonic() < next_tick:
            if ctx.stop.value:
                control.stopping = True
            if not any(worker.is_alive() for worker in workers):
                control.publishers_done = True
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
        if metrics is not None:  # the same figures, to this process's Prometheus files
            metrics.add(delta)
        ctx.reports.put(delta)
        ctx.control.put(Heartbeat(ctx.index, delta))
        if done:
            cpu = time.process_time()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            ctx.reports.put(ProcessEnded(ctx.index, last_reply, cpu - cpu_at_start, cpu_at_start, round(peak, 1)))
            if ctx.stop.value == REPORTER_GONE:
                # Nobody reads the reporter's queue any more: exit without waiting for
                # its feeder thread to flush into a full pipe (that wait never ends).
                ctx.reports.cancel_join_thread()
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
    delta.warmup.add(report.warmup)
    if report.pubsub is not None:
        delta.pubsub.add(report.pubsub)
    delta.max_lag = max(delta.max_lag, report.max_lag)
    if report.first_send and (not delta.first_send or report.first_send < delta.first_send):
        delta.first_send = report.first_send
    latest[report.thread] = report  # lag and connections are levels: keep each thread's newest
