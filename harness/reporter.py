"""The reporter process: reads the shared queue, merges, and owns the run's output.

Forked by the coordinator before the client processes; it opens no Redis connection.
It prints live totals every stats_interval, and when the coordinator says the run has
ended (RunEnded, sent after every client process has exited, so every Delta is already
in the queue), the final totals and the result file. The metrics issue adds
percentiles, Prometheus and OpenTelemetry here.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import time
from dataclasses import dataclass, field

from harness.lifecycle import die_with_parent, set_process_name
from harness.messages import Delta, Preloaded, ProcessEnded, RunEnded
from harness.plan import Plan
from harness.results import harness_block, pubsub_block, summary_table, write_json_atomic
from harness.settings import RunConfig
from harness.stats import CommandStats, PubSubStats

log = logging.getLogger("harness")


@dataclass
class ReporterContext:
    config: RunConfig
    plan: Plan
    run_id: str
    target: str
    reports: object  # multiprocessing.Queue
    start_at: object  # multiprocessing.RawValue('d'): monotonic start, 0 until started
    coordinator_pid: int


@dataclass
class RunState:
    """Everything merged so far; pure, so the tests can feed it messages."""

    totals: CommandStats = field(default_factory=CommandStats)
    # Per process: operations since the last live line, and the time span they cover
    # (from the previous line's last window end to the newest Delta's), for a true rate.
    interval_ops: dict = field(default_factory=dict)
    until: dict = field(default_factory=dict)
    shown_until: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)  # process -> its latest measured ops/s
    warmup: CommandStats = field(default_factory=CommandStats)
    preload: CommandStats = field(default_factory=CommandStats)
    pubsub: PubSubStats = field(default_factory=PubSubStats)
    lag: dict = field(default_factory=dict)  # process -> seconds behind schedule now
    max_lag: float = 0.0
    connections: dict = field(default_factory=dict)  # process -> open connections
    last_reply: dict = field(default_factory=dict)  # process -> monotonic time
    ended: RunEnded | None = None

    def apply(self, message) -> None:
        if isinstance(message, Delta):
            self.totals.add(message.stats)
            process = message.process
            self.interval_ops[process] = self.interval_ops.get(process, 0) + message.stats.total
            self.until[process] = message.until
            self.warmup.add(message.warmup)
            self.pubsub.add(message.pubsub)
            self.lag[message.process] = message.lag
            self.max_lag = max(self.max_lag, message.max_lag)
            self.connections[message.process] = 0 if message.final else message.connections
        elif isinstance(message, Preloaded):
            self.preload.add(message.stats)
        elif isinstance(message, ProcessEnded):
            self.last_reply[message.process] = message.last_reply
        elif isinstance(message, RunEnded):
            self.ended = message

    def take_interval_rate(self, start: float) -> float:
        """The current ops/s summed over processes: each process's operations over the
        time its Deltas since the previous call cover (a process whose Delta has not
        come in yet this interval counts at its previous rate)."""
        for process, ops in self.interval_ops.items():
            span = self.until[process] - self.shown_until.get(process, start)
            if span > 0:
                self.rates[process] = ops / span
            self.shown_until[process] = self.until[process]
        self.interval_ops.clear()
        return sum(self.rates.values())


def reporter_main(ctx: ReporterContext) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(ctx.coordinator_pid)
    set_process_name("harness:report")
    state = RunState()
    interval = ctx.config.stats_interval
    next_print = None
    while state.ended is None:
        try:
            state.apply(ctx.reports.get(timeout=0.2))
        except queue.Empty:
            pass
        start = ctx.start_at.value
        if not start:
            continue
        now = time.monotonic()
        if next_print is None:
            next_print = start + interval
        if now >= next_print and state.ended is None:
            print(progress_line(state, now - start, state.take_interval_rate(start)), flush=True)
            next_print += interval
    finish(ctx, state)


def measured_seconds(config: RunConfig, start: float, state: RunState) -> float:
    """From the end of warmup to the last reply any process received."""
    if not start:
        return 0.0
    end = max(state.last_reply.values(), default=0.0) or time.monotonic()
    return max(0.0, end - (start + config.warmup))


def progress_line(state: RunState, elapsed: float, rate: float) -> str:
    errors = state.totals.total_errors
    per_command = "  ".join(f"{name} {state.totals.count_of(name):,}" for name in state.totals.commands())
    lag = max(state.lag.values(), default=0.0)
    return (
        f"[{elapsed:7.1f}s] {state.totals.total:,} ops  {rate:,.0f} ops/s  errors {errors:,}  "
        f"conns {sum(state.connections.values())}  lag {lag:.3f}s  | {per_command}"
    )


def summary_line(state: RunState, seconds: float) -> str:
    totals = state.totals
    rate = totals.total / seconds if seconds > 0 else 0.0
    per_command = "  ".join(f"{name} {totals.count_of(name):,}" for name in totals.commands())
    return (
        f"[total {seconds:7.1f}s] {totals.total:,} ops  {rate:,.0f} ops/s  "
        f"errors {totals.total_errors:,}  max lag {state.max_lag:.3f}s  | {per_command}"
    )


def finish(ctx: ReporterContext, state: RunState) -> None:
    seconds = measured_seconds(ctx.config, ctx.start_at.value, state)
    pubsub = pubsub_block(state.pubsub, state.totals, state.warmup, ctx.plan.processes * ctx.config.subscribers) \
        if ctx.config.workload == "pub_sub" else None
    print(summary_line(state, seconds), flush=True)
    print(summary_table(state.totals, seconds, pubsub), flush=True)
    if not ctx.config.output:
        return
    ended = state.ended
    document = {"harness": run_block(ctx, state, seconds, ended.status, ended.reason)}
    if pubsub is not None:
        document["harness"]["pubsub"] = pubsub
    try:
        write_json_atomic(ctx.config.output, document)
    except OSError as exc:
        print(f"harness: error: cannot write result file {ctx.config.output}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(3) from None


def run_block(ctx: ReporterContext, state: RunState, seconds: float, status: int, reason: str) -> dict:
    block = harness_block(state.totals, seconds, status, reason)
    block["run"] = {
        "run_id": ctx.run_id,
        "target": ctx.target,
        "workload": ctx.config.workload,
        "client_instances": ctx.plan.processes,
        "connections": ctx.plan.total_connections,
        "threads": ctx.plan.total_threads,
        "warmup_ops": state.warmup.total,
        "max_schedule_lag_seconds": round(state.max_lag, 6),
    }
    if state.preload.total:
        block["preload"] = {name: state.preload.count_of(name) for name in state.preload.commands()}
    if state.ended and state.ended.failures:
        block["exit"]["failures"] = list(state.ended.failures)
    return block

