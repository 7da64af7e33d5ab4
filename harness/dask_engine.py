"""`harness run --dask ADDR --shards N`: one run spread over N Dask workers.

The coordinator submits one task per shard (shard_task.run_shard), each pinned to its
own worker, spread over hosts first. Every shard connects everything and says so; once
all N have, the coordinator sets one start instant (a Dask Variable) and every shard
starts then. Nothing of this goes through the Redis under test. While the shards run,
their JSON progress lines arrive on a Dask Queue and are merged into one line per
stats_interval. Ctrl-C, a failed shard or a lost worker set the run's Dask Event, and
every shard stops and writes what it measured. The results come back as the tasks'
values and are merged exactly (merge.py) into one result file with a block per shard.

Exit status: that of a stop (130/143) when stopped; 3 when a shard failed or was lost
(the others' results are kept); otherwise the merged result's thresholds (0 or 1).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field

from harness import histogram
from harness.errors import ConfigError, ExitStatus, HarnessError, Stopped
from harness.frame import percentiles_text
from harness.plural import plural
from harness.settings import ENV_PREFIX, KEYS_BY_NAME, MAX_CONFIG_BYTES

log = logging.getLogger("harness")

# Keys that belong to the coordinator, not to a shard: the shard gets its own values.
COORDINATOR_KEYS = ("dask", "shards", "output", "csv", "report", "quiet", "log_file", "progress",
                    "shard", "start_at", "run_id")
# Seconds to reach the scheduler.
CONNECT_TIMEOUT = 10.0
# Seconds from the submission until every shard must have connected everything.
READY_TIMEOUT = 120.0
# The start instant is this far after the last shard said it was ready, so that the
# instant reaches every shard before it passes.
START_MARGIN = 1.0
# How long the shards get to stop and hand back their results after a stop.
STOP_WAIT = 20.0
POLL = 0.2


class DaskError(HarnessError):
    """The scheduler cannot run this (unreachable, too few workers): exit 3."""


@dataclass
class Shard:
    index: int
    worker: str
    host: str
    future: object = None
    ready: bool = False
    lost: bool = False
    progress: dict | None = None
    outcome: dict | None = None


@dataclass
class Watch:
    """What the coordinator has seen so far."""

    shards: list
    begun: float = field(default_factory=time.monotonic)
    start_at: float | None = None
    stopping: bool = False
    status: ExitStatus = ExitStatus.OK
    failures: list = field(default_factory=list)

    def fail(self, line: str, status: ExitStatus = ExitStatus.RUN_FAILED) -> None:
        log.error("%s", line)
        self.failures.append(line)
        if self.status == ExitStatus.OK:
            self.status = status


def shard_environment(config, options: dict[str, str], env, run_id: str, index: int) -> dict[str, str]:
    """The shard's HARNESS_* variables: the coordinator's own and its command-line
    options (options win, as they do here), less the coordinator's keys, plus the shard's."""
    shard_env = {name: value for name, value in env.items()
                 if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):].lower() not in COORDINATOR_KEYS}
    for name, text in options.items():
        if name not in COORDINATOR_KEYS:
            shard_env[KEYS_BY_NAME[name].env] = text
    # The -c file is forwarded as it is: these override whatever it says of them.
    shard_env.update({KEYS_BY_NAME[name].env: "" for name in ("dask", "csv", "log_file", "report")
                      if name in KEYS_BY_NAME})
    shard_env.update(HARNESS_SHARDS="1", HARNESS_QUIET="false", HARNESS_RUN_ID=run_id,
                     HARNESS_SHARD=f"{index}/{config.shards}")
    return shard_env


def check_shard_config(config, config_file: str | None, options: dict[str, str], env, run_id: str) -> None:
    """Resolve what shard 0 will be given, here, before anything is submitted: a
    configuration no shard could run (cleanup without a duration, pub_sub, ...) is one
    line and exit 2 before any load, not N failed shards."""
    from harness.settings import resolve

    shard_env = shard_environment(config, options, env, run_id, 0)
    resolve(config_file, dict(shard_env, HARNESS_START_AT="stdin", HARNESS_PROGRESS="json"), {})


def read_config_text(config_file: str | None) -> str | None:
    if not config_file:
        return None
    with open(config_file, encoding="utf-8") as handle:  # resolve() has read it already
        return handle.read(MAX_CONFIG_BYTES)


def pick_workers(workers: dict, n: int) -> list[tuple[str, str]]:
    """N distinct workers as (address, host), taking one per host in turn, so that
    shards share a host only when there are more shards than hosts."""
    by_host: dict[str, list[str]] = {}
    for address, info in sorted(workers.items()):
        by_host.setdefault(info.get("host") or address, []).append(address)
    chosen = []
    while len(chosen) < n and any(by_host.values()):
        for host in sorted(by_host):
            if by_host[host] and len(chosen) < n:
                chosen.append((by_host[host].pop(0), host))
    return chosen


def merged_line(shards: list, elapsed: float) -> str:
    """The shards' latest progress as one plain line: totals and rates added, the
    intervals' latency histograms merged (exact: same buckets everywhere)."""
    reporting = [shard.progress for shard in shards if shard.progress]
    counts: dict = {}
    for record in reporting:
        histogram.merge(counts, {int(index): n for index, n in record["latency"].items()})
    ops = sum(record["ops"] for record in reporting)
    rate = sum(record["rate"] for record in reporting)
    errors = sum(record["errors"] for record in reporting)
    running = sum(1 for shard in shards if not shard.lost and shard.outcome is None)
    return (f"[{elapsed:7.1f}s] {running}/{len(shards)} shards  {ops:,} ops  {rate:,.0f} ops/s  "
            f"{percentiles_text(counts)}  errors {errors:,}")


def run(config, config_file: str | None, options: dict[str, str], env, out) -> ExitStatus:
    try:
        from distributed import Client, Event, Queue, Variable
    except ImportError:
        raise ConfigError(f"dask = {config.dask} ({config.source('dask')}) needs Dask: "
                          "pip install 'redis-harness[dask]'") from None
    from harness.coordinator import new_run_id
    from harness.destinations import with_default_output
    from harness.preflight import check_output
    from harness.shard_task import names, run_shard

    config = with_default_output(config)
    check_output(config)
    run_id = config.run_id or new_run_id()
    ini_text = read_config_text(config_file)
    check_shard_config(config, config_file, options, env, run_id)
    try:
        client = Client(config.dask, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise DaskError(f"cannot reach the Dask scheduler at {config.dask} ({config.source('dask')}): "
                        f"{exc}") from None
    try:
        chosen = pick_workers(client.scheduler_info(n_workers=-1)["workers"], config.shards)
        if len(chosen) < config.shards:
            raise ConfigError(f"shards = {config.shards} ({config.source('shards')}) needs as many Dask workers; "
                            f"the scheduler at {config.dask} has {len(chosen)}")
        token = f"{run_id}-{secrets.token_hex(4)}"
        dask_names = names(token)
        queue, stop = Queue(dask_names["queue"], client=client), Event(dask_names["stop"], client=client)
        start, cleanup = Variable(dask_names["start"], client=client), Variable(dask_names["cleanup"], client=client)
        shards = [Shard(index, worker, host) for index, (worker, host) in enumerate(chosen)]
        print(f"run {run_id}: {plural(config.shards, 'shard')} on Dask {config.dask} "
              f"({', '.join(f'{s.index}:{s.host}' for s in shards)})", file=out, flush=True)
        for shard in shards:
            shard.future = client.submit(
                run_shard, shard.index, shard_environment(config, options, env, run_id, shard.index), ini_text,
                token, READY_TIMEOUT, workers=[shard.worker], allow_other_workers=False, pure=False,
                key=f"harness-{token}-shard-{shard.index}")
        watch = Watch(shards)
        follow(client, watch, queue, stop, start, cleanup, config, out)
        return finish(config, watch, out)
    finally:
        client.close()


def follow(client, watch: Watch, queue, stop, start, cleanup, config, out) -> None:
    """Until every shard has ended or been lost: the barrier, the merged live line,
    stopping every shard when one fails, a worker is lost or the user stops, and shard
    0's cleanup once the others have ended."""
    shown = time.monotonic()
    stopped_at = None
    cleanup_said = False
    while not all(shard.outcome is not None or shard.lost for shard in watch.shards):
        try:
            if not cleanup_said and all(s.outcome is not None or s.lost for s in watch.shards[1:]):
                cleanup_said = True
                lost = [str(s.index) for s in watch.shards[1:] if s.lost]
                if lost:
                    log.warning("shard %s was lost: when it stopped sending is not known, so shard 0 leaves "
                                "the run's keys in place", ", ".join(lost))
                cleanup.set("keep" if lost else "cleanup")
            _drain(queue, watch)
            if watch.start_at is None and all(shard.ready for shard in watch.shards):
                watch.start_at = time.time() + START_MARGIN
                start.set(watch.start_at)
                print(f"all {len(watch.shards)} shards connected: starting at "
                      f"{time.strftime('%H:%M:%S', time.localtime(watch.start_at))}", file=out, flush=True)
            _check_shards(client, watch)
            if watch.start_at is None and time.monotonic() - watch.begun > READY_TIMEOUT:
                late = [str(shard.index) for shard in watch.shards if not shard.ready]
                watch.fail(f"shards {', '.join(late)} did not connect within {READY_TIMEOUT:g} s")
            if watch.failures and not watch.stopping:
                watch.stopping, stopped_at = True, time.monotonic()
                stop.set()
            if watch.stopping and time.monotonic() - stopped_at > STOP_WAIT:
                for shard in watch.shards:
                    if shard.outcome is None and not shard.lost:
                        watch.fail(f"shard {shard.index} on {shard.host} did not stop within {STOP_WAIT:g} s")
                        shard.lost = True
                        shard.future.cancel()
            now = time.monotonic()
            if watch.start_at is not None and now - shown >= config.stats_interval \
                    and any(shard.progress for shard in watch.shards):
                shown = now
                if not config.quiet:
                    print(merged_line(watch.shards, max(0.0, time.time() - watch.start_at)), file=out, flush=True)
        except Stopped as stopped:
            if watch.stopping:
                raise
            watch.stopping, stopped_at = True, time.monotonic()
            watch.status = stopped.status
            stop.set()


def _drain(queue, watch: Watch) -> None:
    try:
        items = [queue.get(timeout=POLL)]
    except TimeoutError:
        return
    while queue.qsize():
        items.append(queue.get())
    for item in items:
        shard = watch.shards[item[1]]
        if item[0] == "ready":
            shard.ready = True
        elif item[0] == "progress":
            shard.progress = item[2]


def _check_shards(client, watch: Watch) -> None:
    alive = set(client.scheduler_info(n_workers=-1)["workers"])
    for shard in watch.shards:
        if shard.outcome is not None or shard.lost:
            continue
        if shard.future.done():
            try:
                shard.outcome = shard.future.result()
            except Exception as exc:  # noqa: BLE001 - the task itself raised
                shard.lost = True
                watch.fail(f"shard {shard.index} on {shard.host} failed: {type(exc).__name__}: {exc}")
                continue
            status = shard.outcome["status"]
            if status not in (ExitStatus.OK, ExitStatus.FAILED_CHECK) and not watch.stopping:
                said = shard.outcome["stderr"][-1] if shard.outcome["stderr"] else "no message"
                watch.fail(f"shard {shard.index} on {shard.host} ended with status {status}: {said}",
                           ExitStatus.USAGE if status == ExitStatus.USAGE else ExitStatus.RUN_FAILED)
        elif shard.worker not in alive:
            shard.lost = True
            shard.future.cancel()
            watch.fail(f"shard {shard.index} on {shard.host} was lost: its Dask worker {shard.worker} is gone")


def finish(config, watch: Watch, out) -> ExitStatus:
    """Merge what came back into one result file (a block per shard), and end as a
    single run ends: summary, thresholds on the merged figures, the exit status."""
    from harness.merge import merge
    from harness.merge_output import conclude

    returned = [shard for shard in watch.shards if shard.outcome and shard.outcome["document"]]
    if not returned:
        raise DaskError("no shard returned a result: " + ("; ".join(watch.failures) or "none reported"))
    merged = merge([shard.outcome["document"] for shard in returned],
                   names=[f"worker {shard.worker} on {shard.outcome['host']}" for shard in returned])
    merged.document["harness"]["dask"] = {
        "scheduler": config.dask,
        "start_at": watch.start_at,
        "shards": [{"shard": f"{s.index}/{len(watch.shards)}", "worker": s.worker, "host": s.host,
                    "status": "lost" if s.lost else s.outcome["status"]} for s in watch.shards],
        "failures": watch.failures,
    }
    return conclude(merged, config.thresholds, config.output, out, watch.status, tuple(watch.failures))
