"""The whole result file: memtier_benchmark's --json-out-file layout ("configuration",
"run information", "ALL STATS") so existing tooling reads it, plus the harness's own
"harness" block (errors by type, pub/sub, resources, schedule lag, server samples,
exit status). Built in the reporter at the end of the run, also after a failure.
"""

from __future__ import annotations

import socket
import time

from harness import __version__, disruptions
from harness.results import all_stats, cluster_block, harness_block
from harness.settings import KEYS


def build_document(ctx, state, seconds: float, pubsub: dict | None, resources: dict,
                   ops_per_cpu: float | None) -> dict:
    config = ctx.config
    ended = state.ended
    runtime = runtime_block(state, config.warmup, seconds)
    block = harness_block(state.totals, seconds, ended.status, ended.reason)
    block["run"] = {
        "run_id": ctx.run_id,
        "target": ctx.endpoint.describe(),
        "workload": config.workload,
        "client_instances": ctx.plan.processes,
        "connections": ctx.plan.total_connections,
        "threads": ctx.plan.total_threads,
        "warmup_ops": state.warmup.total,
        "max_schedule_lag_seconds": round(state.max_lag, 6),
        **placement(ctx.plan, state.start, state.first_send),
    }
    if state.target is not None:
        block["run"]["target_rate"] = {"rate": config.rate, "stages": [list(stage) for stage in config.stages]}
    # None when a client process was killed before it reported its CPU time.
    cost = None if ops_per_cpu is None else round(ops_per_cpu, 1)
    block["resources"] = dict(resources, ops_per_harness_cpu_second=cost,
                              client_cpu_seconds={str(p): round(s, 3) for p, s in sorted(state.client_cpu.items())},
                              clients={str(p): figures for p, figures in sorted(state.clients.items())})
    block["samples"] = state.resources
    block["disruptions"] = disruptions.report(state.disruptions, state.start)
    if ctx.endpoint.cluster:
        block["cluster"] = cluster_block(state.totals)
    if pubsub is not None:
        block["pubsub"] = pubsub
    if state.preload.total:
        block["preload"] = {name: state.preload.count_of(name) for name in state.preload.commands()}
    if ended.failures:
        block["exit"]["failures"] = list(ended.failures)
    all_stats_block = all_stats(state.totals, seconds, state.series, runtime)
    if state.target is not None:
        add_targets(all_stats_block["Totals"]["Time-Serie"], state.target, state.series_step)
    if state.start:
        add_times(all_stats_block, round(state.start_wall * 1000))
    return {
        "configuration": {spec.name: config.display_value(spec.name) for spec in KEYS},
        "run information": {
            "Tool": "redis-harness",
            "Version": __version__,
            "Run ID": ctx.run_id,
            "Target": ctx.endpoint.describe(),
            "Workload": config.workload,
            "Client processes": ctx.plan.processes,
            "Connections per process": ctx.plan.connections_per_process,
            "Threads per process": ctx.plan.threads_per_process,
            "Pipeline": config.pipeline,
        },
        "ALL STATS": all_stats_block,
        "harness": block,
    }


def epoch_of(monotonic_instant: float) -> float:
    """The wall-clock time (seconds since the epoch) of a time.monotonic() instant, from
    one reading of both clocks now: taken when the run starts, so that clock
    adjustments during a long run do not move the start."""
    return time.time() - (time.monotonic() - monotonic_instant)


def runtime_block(state, warmup: float, seconds: float) -> dict:
    """memtier's "Runtime": "Start time" is the instant of the first measured second
    (the start of every client process, or the end of warmup), in ms since the epoch;
    the run's measured span is [Start time, Finish time], Total duration long."""
    if state.start:
        start_ms = round((state.start_wall + warmup) * 1000)
    else:  # never started (the target was unreachable): an empty span, now
        start_ms = round(time.time() * 1000)
    duration_ms = int(seconds * 1000)
    return {
        "Start time": start_ms,
        "Finish time": start_ms + duration_ms,
        "Total duration": duration_ms,
        "Time unit": "MILLISECONDS",
        "Time-Serie step": state.series_step,
    }


def add_times(all_stats_block: dict, origin_ms: int) -> None:
    """Each Time-Serie point's absolute "Time" (ms since the epoch): the start of its
    span. The point keyed k holds what the client processes reported in [Time, Time +
    step), Time = the instant they all started + k seconds (warmup included), so points
    of result files from different hosts align on the wall clock (harness.merge)."""
    for block in all_stats_block.values():
        for key, entry in block.get("Time-Serie", {}).items():
            entry["Time"] = origin_ms + int(key) * 1000


def placement(plan, start: float, first_send: float) -> dict:
    """Where and when this shard ran, to line shards up: its shard, host, the start
    instant and its first batch's, in epoch seconds (from monotonic times)."""
    return {
        "shard": f"{plan.shard}/{plan.shards}",
        "host": socket.gethostname(),
        "start_at": round(epoch_of(start), 6) if start else None,
        "first_operation_at": round(epoch_of(first_send), 6) if first_send else None,
    }


def add_targets(series: dict, target, step: int) -> None:
    """A paced run's "Target Count" beside each point's Count: the operations its
    schedule asked for over the same span. (Point k holds the replies of the Deltas
    that ended in [k, k + step) seconds from the start: those of [k - 1, k - 1 + step).)"""
    for key, entry in series.items():
        begin = max(0.0, int(key) - 1.0)
        entry["Target Count"] = round(target.operations_by(begin + step) - target.operations_by(begin))

