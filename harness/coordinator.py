"""`harness run`: resolve the target, drive the workload, report, clean up, decide the exit.

This is the foundation's minimal form: one process, one connection, one loop, so that
the command, the embedded target, the reporting and the exit statuses work end to end.
The engine issue replaces drive() with forked client processes and a reporter.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import redis

from harness.errors import ExitStatus, HarnessError, Stopped, TargetError
from harness.keyspace import delete_keys, run_prefix
from harness.results import harness_block, write_json_atomic
from harness.settings import RunConfig
from harness.stats import CommandStats, error_type
from harness.target import Endpoint, connect, explain_failure, open_target
from workloads import WorkloadFactory, WorkloadSpec

log = logging.getLogger("harness")

# How many operations between clock checks in the loop (a clock read per op costs ~5%).
CLOCK_CHECK_EVERY = 64


@dataclass
class Outcome:
    stats: CommandStats
    elapsed: float = 0.0
    status: ExitStatus = ExitStatus.OK
    reason: str = "completed"


def new_run_id() -> str:
    return secrets.token_hex(4)


def run(config: RunConfig, out) -> ExitStatus:
    run_id = new_run_id()
    prefix = run_prefix(config.key_prefix, run_id)
    outcome = Outcome(CommandStats())
    with open_target(config) as endpoint:
        log.info("run %s: %s on %s, keys under %r", run_id, config.workload, endpoint.describe(), prefix)
        try:
            client = connect(endpoint, config.connect_retries)
        except TargetError as exc:
            outcome.status, outcome.reason = ExitStatus.RUN_FAILED, str(exc)
            _finish(config, outcome, out)
            raise
        try:
            drive(client, _workload(config, prefix, run_id), config, outcome, out)
        except Stopped as stop:
            outcome.status, outcome.reason = stop.status, f"stopped by {stop.status.name}"
        finally:
            _finish(config, outcome, out)
            if config.cleanup:
                _cleanup(endpoint, config, prefix)
            client.close()
    return outcome.status


def _workload(config: RunConfig, prefix: str, run_id: str):
    spec = WorkloadSpec(
        key_prefix=prefix.encode(),
        keyspace=config.keyspace,
        key_distribution=config.key_distribution,
        value_size=config.value_size,
        read_ratio=config.read_ratio,
        seed=int(run_id, 16),
    )
    return WorkloadFactory.create(config.workload, spec)


def drive(client: redis.Redis, workload, config: RunConfig, outcome: Outcome, out) -> None:
    """Send operations until duration or requests ends the run; print totals each interval."""
    stats = outcome.stats
    execute = client.execute_command
    started = time.monotonic()
    deadline = started + config.duration if config.duration else float("inf")
    remaining = config.requests or -1
    next_report = started + config.stats_interval
    try:
        while remaining != 0:
            for _ in range(CLOCK_CHECK_EVERY):
                command = workload.next_command()
                try:
                    execute(*command)
                    stats.ok[command[0]] += 1
                except redis.RedisError as exc:
                    stats.errors[command[0], error_type(exc)] += 1
                remaining -= 1
                if remaining == 0:
                    break
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_report:
                print(_progress_line(stats, now - started), file=out, flush=True)
                next_report += config.stats_interval
    finally:
        outcome.elapsed = time.monotonic() - started


def _progress_line(stats: CommandStats, elapsed: float) -> str:
    rate = stats.total / elapsed if elapsed > 0 else 0.0
    per_command = "  ".join(f"{name} {stats.count_of(name):,}" for name in stats.commands())
    return (
        f"[{elapsed:7.1f}s] {stats.total:,} ops  {rate:,.0f} ops/s  "
        f"errors {stats.total_errors:,}  | {per_command}"
    )


def _finish(config: RunConfig, outcome: Outcome, out) -> None:
    print(_progress_line(outcome.stats, outcome.elapsed).replace("[", "[total ", 1), file=out, flush=True)
    if config.output:
        document = {
            "harness": harness_block(outcome.stats, outcome.elapsed, outcome.status, outcome.reason)
        }
        try:
            write_json_atomic(config.output, document)
        except OSError as exc:
            raise HarnessError(f"cannot write result file {config.output}: {exc.strerror}") from None


def _cleanup(endpoint: Endpoint, config: RunConfig, prefix: str) -> None:
    try:
        client = connect(endpoint, retries=config.connect_retries)
        try:
            removed = delete_keys(client, prefix)
        finally:
            client.close()
        log.info("cleanup: removed %d keys under %r", removed, prefix)
    except (HarnessError, redis.RedisError) as exc:
        reason = str(exc) if isinstance(exc, HarnessError) else explain_failure(exc)[0]
        log.warning("cleanup of keys under %r failed: %s", prefix, reason)
