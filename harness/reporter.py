"""The reporter process: reads the shared queue, merges, and owns the run's output.

Forked by the coordinator before the client processes. It draws the live view (its
progress every second, the full block every stats_interval), serves Prometheus
/metrics and exports OTLP (both only when configured, and only here), samples the
client processes' CPU and memory and the server's INFO, and when the coordinator
says the run has ended (RunEnded, sent after every client process has exited, so
every Delta is already in the queue) it draws the last frame, prints the summary and
writes the result file, then sets `done`: from then on the coordinator need not
write a result file for it, whatever happens to this process.

With output = -, the result document is standard output, so the live view and the
summary go to standard error.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import time
from dataclasses import dataclass, field

from harness import disruptions, live, thresholds
from harness.pacing import RateProfile
from harness.errors import ExitStatus
from harness.lifecycle import die_with_parent, set_process_name
from harness.messages import Delta, Preloaded, ProcessEnded, RunEnded
from harness.plan import Plan
from harness.resources import ProcessMonitor, ServerSampler
from harness.csv_export import write_csv
from harness.results import cluster_block, pubsub_block, write_result
from harness.summary import print_summary, quiet_line, say
from harness.result_document import build_document, epoch_of
from harness.series import SeriesPoint
from harness.settings import RunConfig
from harness.shards import name_stem
from harness.stats import CommandStats, PubSubStats
from harness.target import Endpoint, make_client

log = logging.getLogger("harness")


@dataclass
class ReporterContext:
    config: RunConfig
    plan: Plan
    run_id: str
    endpoint: Endpoint
    reports: object  # multiprocessing.Queue
    start_at: object  # multiprocessing.RawValue('d'): monotonic start, 0 until started
    coordinator_pid: int
    stop: object = None  # multiprocessing.RawValue('b'): set to stop the run (abort_on_fail)
    done: object = None  # multiprocessing.RawValue('b'): set once the summary and result file are out
    listener: object = None  # the /metrics listening socket, bound by the coordinator (or None)


# Long runs stay bounded: past this many points the time series doubles its step
# (merging neighbours), and the per-interval samples keep every other one.
MAX_SERIES_POINTS = 3600
MAX_SAMPLE_POINTS = 1000


@dataclass
class RunState:
    """Everything merged so far; pure, so the tests can feed it messages."""

    totals: CommandStats = field(default_factory=CommandStats)
    interval: CommandStats = field(default_factory=CommandStats)  # since the last live view
    series: dict = field(default_factory=dict)  # first second of each step -> SeriesPoint
    series_step: int = 1  # seconds per time-series point
    # Per process: operations since the last live view and the span they cover, for a
    # true current rate even though processes report at their own moments.
    interval_ops: dict = field(default_factory=dict)
    until: dict = field(default_factory=dict)
    shown_until: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)  # process -> its latest measured ops/s
    second_rates: dict = field(default_factory=dict)  # process -> ops/s over its latest Delta (about 1 s)
    warmup: CommandStats = field(default_factory=CommandStats)
    preload: CommandStats = field(default_factory=CommandStats)
    pubsub: PubSubStats = field(default_factory=PubSubStats)
    samples: list = field(default_factory=list)  # trace samples not yet exported
    disruptions: list = field(default_factory=list)  # disruptions.Disruption, merged
    lag: dict = field(default_factory=dict)  # process -> seconds behind schedule now
    max_lag: float = 0.0
    connections: dict = field(default_factory=dict)  # process -> open connections
    last_reply: dict = field(default_factory=dict)  # process -> monotonic time
    client_cpu: dict = field(default_factory=dict)  # process -> CPU seconds it used during the load
    clients: dict = field(default_factory=dict)  # process -> its ProcessEnded figures
    reporter_cpu_at_start: float | None = None  # this process's CPU time at the first Delta
    resources: list = field(default_factory=list)  # per interval: processes and server
    ended: RunEnded | None = None
    start: float = 0.0
    start_wall: float = 0.0  # the same instant as `start`, in seconds since the epoch
    warmup_seconds: float = 0.0  # the first live rate counts from the end of warmup
    target: RateProfile | None = None  # a paced run's target rate over time (rate, stages)
    aborted_by: str = ""  # the threshold that stopped the run early (abort_on_fail)
    first_send: float = 0.0  # time.monotonic() of the run's first batch (all processes); 0: none

    def apply(self, message) -> None:
        if isinstance(message, Delta):
            self._apply_delta(message)
        elif isinstance(message, Preloaded):
            self.preload.add(message.stats)
        elif isinstance(message, ProcessEnded):
            self.last_reply[message.process] = message.last_reply
            self.client_cpu[message.process] = message.cpu_seconds
            self.clients[message.process] = {"cpu_seconds": round(message.cpu_seconds, 3),
                                             "setup_cpu_seconds": round(message.setup_cpu_seconds, 3),
                                             "max_rss_mb": message.max_rss_mb}
        elif isinstance(message, RunEnded):
            self.ended = message

    def _apply_delta(self, delta: Delta) -> None:
        if self.reporter_cpu_at_start is None:
            self.reporter_cpu_at_start = time.process_time()
        stats = delta.stats
        self.samples += stats.samples
        stats.samples = []
        spans = stats.disruptions + delta.warmup.disruptions
        if spans:
            self.disruptions = disruptions.merge(self.disruptions, spans)
            stats.disruptions, delta.warmup.disruptions = [], []
        self.totals.add(stats)
        self.interval.add(stats)
        if self.start:
            second = max(0, int(delta.until - self.start)) // self.series_step * self.series_step
            self.series.setdefault(second, SeriesPoint()).add(stats, service=self.target is not None)
            if len(self.series) > MAX_SERIES_POINTS:
                self._coarsen_series()
        process = delta.process
        # The current rate counts warmup operations too: it tells what the load is doing now.
        since = self.until.get(process, self.start)
        if self.start and delta.until > since:
            self.second_rates[process] = (stats.total + delta.warmup.total) / (delta.until - since)
        self.interval_ops[process] = self.interval_ops.get(process, 0) + stats.total
        self.until[process] = delta.until
        self.warmup.add(delta.warmup)
        self.pubsub.add(delta.pubsub)
        self.lag[process] = delta.lag
        self.max_lag = max(self.max_lag, delta.max_lag)
        if delta.first_send and (not self.first_send or delta.first_send < self.first_send):
            self.first_send = delta.first_send
        self.connections[process] = 0 if delta.final else delta.connections

    def _coarsen_series(self) -> None:
        self.series_step *= 2
        coarse: dict = {}
        for second, point in self.series.items():
            coarse.setdefault(second // self.series_step * self.series_step, SeriesPoint()).merge(point)
        self.series = coarse

    def add_sample(self, sample: dict) -> None:
        self.resources.append(sample)
        if len(self.resources) > MAX_SAMPLE_POINTS:
            self.resources = self.resources[::2]

    def current_rate(self) -> float:
        """Operations per second over each process's latest Delta, summed."""
        return sum(self.second_rates.values())

    def target_rate(self, now: float) -> float | None:
        """A paced run's target rate at monotonic time `now` (None: closed loop)."""
        if self.target is None:
            return None
        return self.target.rate_at(now - self.start) if self.start else self.target.rate_at(0.0)

    def measured_seconds(self) -> float:
        """From the end of warmup to the last reply any process received, or, while the
        run goes (or when a process was killed before it could say), to the end of the
        latest Delta. The live view and the summary both count this way, so the last
        frame and the totals are one set of numbers (they were the wall clock at the
        moment of drawing against the replies' own time)."""
        if not self.start:
            return 0.0
        end = max(self.last_reply.values(), default=0.0) or max(self.until.values(), default=0.0)
        return max(0.0, end - (self.start + self.warmup_seconds))

    def take_interval(self) -> tuple[float, CommandStats]:
        """(current ops/s summed over processes, the stats since the last call)."""
        for process, ops in self.interval_ops.items():
            span = self.until[process] - self.shown_until.get(process, self.start + self.warmup_seconds)
            if span > 0:
                self.rates[process] = ops / span
            self.shown_until[process] = self.until[process]
        self.interval_ops.clear()
        interval, self.interval = self.interval, CommandStats()
        return sum(self.rates.values()), interval


class Outputs:
    """The reporter's optional outputs, created here (after the fork) and closed once."""

    def __init__(self, ctx: ReporterContext):
        config = ctx.config
        self.metrics_server = None
        self.telemetry = None
        if ctx.listener is not None:
            from harness.metrics import serve

            self.metrics_server = serve(ctx.listener, ctx.run_id, config.workload, ctx.endpoint.describe())
        if config.otlp_endpoint:
            from harness.telemetry import Telemetry

            port = None if ctx.endpoint.unix_path else ctx.endpoint.port
            self.telemetry = Telemetry.create(config, ctx.run_id, ctx.endpoint.unix_path or ctx.endpoint.host, port)
        self.processes = ProcessMonitor(ctx.coordinator_pid, config.stats_interval)
        self.server = ServerSampler(make_client(ctx.endpoint, client_name=f"{name_stem(ctx.run_id, ctx.config)}-reporter"))

    def started(self) -> None:
        self.processes.start()
        self.server.sample()

    def export(self, state: RunState) -> None:
        if self.telemetry is not None:
            self.telemetry.export(state.totals)
            self.telemetry.spans(state.samples)
        state.samples = []

    def close(self, linger: float) -> None:
        self.server.close()
        if self.telemetry is not None:
            self.telemetry.close()
        if self.metrics_server is not None:
            time.sleep(linger)  # let a scraper take the final values
            self.metrics_server.shutdown()


def reporter_main(ctx: ReporterContext) -> None:
    # Ctrl-C and SIGTERM often reach the whole process group (a terminal, systemd,
    # docker stop): only the coordinator acts on them, and stops this process in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(ctx.coordinator_pid)
    set_process_name("harness:report")
    outputs = Outputs(ctx)
    target = RateProfile.of(ctx.config)
    if target is not None and ctx.plan.shards > 1:
        target = target.scaled(1 / ctx.plan.shards)  # this shard's part of the run's rate
    state = RunState(target=target)
    view = live.make_view(ctx.config, text_stream(ctx.config))
    view.begin()  # a terminal shows a first frame now, before the clients have connected
    try:
        follow(ctx, state, outputs, view)
        finish(ctx, state, outputs, view)
    finally:
        view.finish(state, state.measured_seconds())  # already done after a normal finish


def follow(ctx: ReporterContext, state: RunState, outputs: Outputs, view) -> None:
    """Merge messages until RunEnded; move the progress bar every TICK and draw the
    full block every stats_interval, both counted from the start."""
    interval = ctx.config.stats_interval
    tick = min(live.TICK, interval)
    next_view = next_tick = None
    while state.ended is None:
        try:
            # Until the start, wake often: the CPU baselines are taken within ~10 ms of it,
            # so the first interval is a full one.
            state.apply(ctx.reports.get(timeout=min(0.2, tick) if state.start else 0.01))
        except queue.Empty:
            pass
        now = time.monotonic()
        if not state.start and ctx.start_at.value:
            state.start = ctx.start_at.value
            state.start_wall = epoch_of(state.start)
            state.warmup_seconds = ctx.config.warmup
            outputs.started()  # the CPU baselines: the first interval is measured from here
            next_view, next_tick = state.start + interval, state.start
        if state.ended is not None or next_view is None:
            continue
        if now >= next_view:
            show_interval(state, outputs, view)
            check_abort(ctx, state)
            while next_view <= now:  # a slow interval is skipped, not drawn twice
                next_view += interval
            next_tick = now + tick
        elif now >= next_tick:
            view.tick(state)
            while next_tick <= now:
                next_tick += tick


def text_stream(config: RunConfig):
    """Where the live view and the summary go: stdout, unless the result document does."""
    return sys.stderr if config.output == "-" else sys.stdout


def facts_of(ctx: ReporterContext, state: RunState, seconds: float, pubsub: dict | None = None) -> thresholds.Facts:
    return thresholds.Facts(state.totals, seconds, pubsub, state.max_lag, ctx.config.requests)


def checked_here(ctx: ReporterContext) -> tuple:
    """The thresholds this process checks: none in a shard of a larger run, whose
    figures are a share of the whole (harness merge checks them on the merged result)."""
    return ctx.config.thresholds if ctx.plan.shards == 1 else ()


def check_abort(ctx: ReporterContext, state: RunState) -> None:
    """abort_on_fail: stop the run as soon as a threshold can no longer pass."""
    config = ctx.config
    if not (config.abort_on_fail and checked_here(ctx)) or state.aborted_by:
        return
    facts = facts_of(ctx, state, state.measured_seconds())
    for threshold in config.thresholds:
        if thresholds.cannot_pass(threshold, facts):
            measured = thresholds.measure(threshold, facts)
            log.warning("threshold %r can no longer pass (measured %g): stopping the run", threshold.text, measured)
            state.aborted_by = threshold.text
            ctx.stop.value = 1
            return


def show_interval(state: RunState, outputs: Outputs, view: "live.LiveView") -> None:
    rate, interval = state.take_interval()
    processes = outputs.processes.sample()
    server = outputs.server.sample()
    busy = outputs.processes.busy(processes)
    sample = {"second": round(time.monotonic() - state.start, 1), "processes": processes, "server": server}
    if busy:  # the live view's bottleneck warning fired here: the HTML report marks it
        sample["busy"] = busy
    state.add_sample(sample)
    view.show(state, rate, interval, processes, server, busy)
    outputs.export(state)


def finish(ctx: ReporterContext, state: RunState, outputs: Outputs, view) -> None:
    config = ctx.config
    seconds = state.measured_seconds()
    outputs.processes.sample()
    outputs.export(state)
    pubsub = None
    if config.workload == "pub_sub":
        pubsub = pubsub_block(state.pubsub, state.totals, state.warmup, ctx.plan.processes * config.subscribers)
    verdicts = thresholds.evaluate(checked_here(ctx), facts_of(ctx, state, seconds, pubsub))
    failed = [verdict for verdict in verdicts if not verdict["passed"]]
    if failed and state.ended.status == ExitStatus.OK:
        reason = "threshold failed: " + "; ".join(f"{v['threshold']} (measured {v['measured']:g})" for v in failed)
        if state.aborted_by:
            reason += " - stopped early by abort_on_fail"
        state.ended = RunEnded(ExitStatus.FAILED_CHECK, reason, state.ended.failures)
    view.finish(state, seconds)  # the last frame: these totals and these seconds
    out = text_stream(config)
    cost = ops_per_cpu_second(state, ctx.plan.processes)
    if not config.quiet:
        print_report(ctx, state, seconds, pubsub, verdicts, cost, out)
    path = config.output
    try:
        if config.output:
            document = build_document(ctx, state, seconds, pubsub, outputs.processes.summary(), cost)
            document["harness"]["thresholds"] = verdicts
            write_result(config.output, document)
        path = config.csv
        if config.csv:
            write_csv(config.csv, state.totals, seconds, state.series, state.series_step)
        if ctx.done is not None:
            ctx.done.value = 1
    except OSError as exc:
        kind = "CSV file" if path == config.csv else "result file"
        print(f"harness: error: cannot write {kind} {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(3) from None
    finally:
        outputs.close(config.metrics_linger)
    written = [path for path in (config.output, config.csv) if path and path != "-"]
    if config.quiet:
        print(quiet_line(state, seconds, written), file=out, flush=True)
        for verdict in failed:  # the exit status says a threshold failed; this says which
            print(f"threshold {verdict['threshold']}: measured {verdict['measured']:g} FAIL", file=sys.stderr)
    else:  # printed whole, never folded: a path is for copying
        for path in written:
            print(f"{'csv' if path == config.csv else 'result'} file: {path}", file=out, flush=True)
    if state.ended.status == ExitStatus.FAILED_CHECK:
        raise SystemExit(ExitStatus.FAILED_CHECK)  # the coordinator turns this into the exit status


def print_report(ctx, state: RunState, seconds: float, pubsub, verdicts: list, cost: float | None, out) -> None:
    """The summary after the last frame: totals, the table, cluster shares,
    disruptions, thresholds and the harness's own cost."""
    print_summary(out, state, seconds, pubsub, paced=state.target is not None)
    if ctx.endpoint.cluster:
        cluster = cluster_block(state.totals)
        shares = ", ".join(f"{node} {entry['share']:.1%}" for node, entry in cluster["nodes"].items())
        moved, ask = cluster["redirections"]["MOVED"], cluster["redirections"]["ASK"]
        say(out, f"cluster: operations per master: {shares}; redirections followed: MOVED {moved:,}, ASK {ask:,}")
    for entry in disruptions.report(state.disruptions, state.start):
        say(out, disruptions.describe(entry))
    for verdict in verdicts:
        say(out, f"threshold {verdict['threshold']}: measured {verdict['measured']:g} "
                 f"{'PASS' if verdict['passed'] else 'FAIL'}")
    missing = [f"client{p}" for p in range(ctx.plan.processes) if p not in state.client_cpu]
    if cost:
        say(out, f"harness cost: {cost:,.0f} operations per harness CPU-second")
    elif missing and state.totals.total:
        say(out, f"harness cost: not measured ({', '.join(missing)} stopped before reporting its CPU time)")


def ops_per_cpu_second(state: RunState, processes: int) -> float | None:
    """Measured operations per CPU second of the harness (client processes and this one)
    while the load ran: setting up connections and encoding keys is left out. The
    client processes' CPU is what each one reported when it ended (resources.clients
    in the result file); None when any did not (killed after a second Ctrl-C): the
    operations it sent would be divided by no CPU at all."""
    if len(state.client_cpu) < processes:
        return None
    cpu = sum(state.client_cpu.values()) + time.process_time() - (state.reporter_cpu_at_start or 0.0)
    return state.totals.total / cpu if cpu > 0 else None
