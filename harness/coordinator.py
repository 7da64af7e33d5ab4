"""`harness run`: plan, fork, supervise, stop in two phases, and decide the exit status.

Runs in the harness's main process. Before it forks it holds no socket, thread, lock
or OpenTelemetry object: the pre-flight connection is closed, the embedded server is a
child process, and the queues and events it creates are the multiprocessing ones that
are meant to be shared. The one exception is the /metrics listening socket, bound
before anything else so a port in use fails the run first: it is meant for the
reporter, and closed here right after the reporter's fork, before the clients'. With
the fork start method (set explicitly) it starts one reporter process and
`client_instances` client processes, waits until every client is connected, then
releases them together.

Stopping: a deadline or request quota ends the clients by themselves. SIGINT/SIGTERM
set the stop flag: clients finish in-flight operations and send their last figures;
a second signal exits at once. A client that dies is noticed within a poll interval
(0.2 s); the others are stopped and the run ends with status 3. This is the one place
that decides the exit status; the reporter writes it into the result file.

Nothing waits for ever (harness/supervision.py has the heartbeat and the fallback):
- a client silent for heartbeat_timeout after the start is named, killed, status 3;
- the reporter's death wakes the supervision loop at once: the clients are stopped and
  the coordinator prints the totals and writes the result file itself, status 3;
- duration is a hard bound: DEADLINE_SLACK after it the stop flag is set, and clients
  still running socket_timeout + STOP_GRACE later are killed (status 3);
- the reporter gets REPORTER_GRACE + metrics_linger + telemetry's close budget to finish.

A shard of a larger run (harness/shards.py) starts at the shared start_at once all its
clients are ready (harness/barrier.py), or fails as late; only shard 0 preloads and
cleans up, the latter once every shard must have ended (start_at + duration + the stop
bounds below).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import secrets
import signal
import sys
import time
from dataclasses import replace

import psutil
import redis

from harness import barrier
from harness.parsers import START_FROM_STDIN
from harness.cluster import cluster_client, cluster_masters
from harness.errors import ConfigError, ExitStatus, HarnessError, Stopped, TargetError
from harness.keyspace import delete_keys, existing_keys, run_prefix
from harness.messages import REPORTER_GONE, STOP, Failed, Heartbeat, Ready, RunEnded
from harness.metrics import ENV as METRICS_ENV
from harness.metrics import bind_listener, mark_dead, prepare_directory, push_metrics, remove_directory
from harness.destinations import with_default_output
from harness.preflight import check_memory, check_output
from harness.report_command import report_after_run
from harness.plan import Plan, make_plan
from harness.plural import plural
from harness.reporter import ReporterContext, reporter_main
from harness.results import harness_block, write_result
from harness.run_user import RunUser
from harness.settings import KEYS, RunConfig
from harness.shards import derive_run_id, every_shard_ended_by, index_and_count
from harness.stats import CommandStats
from harness.supervision import Fallback, Heartbeats, how_it_ended
from harness.telemetry import CLOSE_WAIT
from harness.target import Endpoint, connect, explain_failure, open_target
from harness.template_check import check_templates
from harness.worker import ClientContext, client_main
from workloads import WorkloadSpec
from workloads.custom import Custom

log = logging.getLogger("harness")

POLL = 0.2
# After a stop request, how long clients get to finish in-flight operations.
STOP_GRACE = 3.0
REPORTER_GRACE = 10.0
# How long after `duration` the coordinator sets the stop flag itself: a thread that is
# behind its rate schedule may still be sending then (the grid lags the clock).
DEADLINE_SLACK = 0.5
# How long before a start instant the clients learn it: they poll for it every 2 ms,
# build their drivers, then sleep until the instant itself.
RELEASE_LEAD = 0.1


def new_run_id() -> str:
    return secrets.token_hex(4)


def run_id_of(config: RunConfig) -> str:
    """The run id: given; else, with a start instant, derived from it and the run's
    keys (so every shard of the run finds the same one); else random."""
    if config.run_id:
        return config.run_id
    if isinstance(config.start_at, float):
        return derive_run_id(config.start_at, [(spec.name, config.display_value(spec.name)) for spec in KEYS
                                               if spec.section in ("run", "workload")])
    return new_run_id()


def run(config: RunConfig, out=None) -> ExitStatus:
    run_id = run_id_of(config)
    prefix = run_prefix(config.key_prefix, run_id)
    plan = make_plan(config, psutil.cpu_count() or 1)
    # Pre-flight, before the target is touched: each refusal is one line, exit 2.
    config = with_default_output(config)
    if plan.shards > 1 and config.thresholds:
        log.info("thresholds are checked on the merged result (harness merge), not on one shard's share")
    check_output(config)
    check_memory(config, plan, len(prefix.encode()))
    listener = None
    if config.prometheus_port:
        listener = bind_listener(config.prometheus_port, config.prometheus_bind, config.source("prometheus_port"))
    started = time.time()
    try:
        status = _run(config, plan, run_id, prefix, listener)
    except HarnessError:  # a run that failed may still have written its result file
        report_after_run(config, ExitStatus.RUN_FAILED, started, out)
        raise
    finally:
        if listener is not None:
            listener.close()
    return report_after_run(config, status, started, out)


def _run(config: RunConfig, plan: Plan, run_id: str, prefix: str, listener) -> ExitStatus:
    with open_target(config) as endpoint, contextlib.ExitStack() as owned:
        log.info(
            "run %s: %s on %s with %s x %s (%s each), keys under %r",
            run_id, config.workload, endpoint.describe(), plural(plan.processes, "client process"),
            plural(plan.connections_per_process, "connection"), plural(plan.threads_per_process, "thread"), prefix,
        )
        try:
            client = connect(endpoint, config.connect_retries)
        except TargetError as exc:
            _write_unstarted(config, ExitStatus.RUN_FAILED, str(exc))
            raise
        try:
            endpoint = _cluster_or_not(client, config, endpoint)
            _refuse_taken_prefix(client, config, endpoint, prefix, fresh_id=not (config.run_id or config.start_at))
            # The per-run ACL user (removed when `owned` closes, after cleanup, also on
            # failure or Ctrl-C); None when the server gives no ACL rights.
            run_user = owned.enter_context(RunUser(endpoint, prefix, run_id))
            if config.workload == "custom":
                _check_custom_commands(client, config, prefix, run_user.confined is not None)
        finally:
            client.close()  # no socket may be held across the fork
        run_user.keep()  # a process that puts the user back on a server that restarts mid-run
        endpoint = run_user.confined or endpoint
        # Before any fork and before anything imports prometheus_client (it picks its
        # multiprocess storage at import time).
        metrics_dir = prepare_directory() if config.prometheus_port or config.pushgateway else None
        supervisor = Supervisor(config, plan, endpoint, run_id, prefix, listener, before_start=run_user.wait_kept)
        try:
            status = supervisor.run()
        except Stopped:
            log.warning("stopped at once: keys under %r were left in place", prefix)
            raise
        finally:
            if config.pushgateway:  # after every client has exited, also after a failure
                push_metrics(config.pushgateway, run_id)
            if metrics_dir:
                remove_directory(metrics_dir)
        if config.cleanup and plan.shard != 0:
            log.info("cleanup of keys under %r is shard 0's, after every shard has ended", prefix)
        elif config.cleanup and _wait_for_other_shards(config, plan, supervisor.start_epoch, prefix):
            _cleanup(endpoint, config, prefix)
    return status


def _wait_for_other_shards(config: RunConfig, plan: Plan, start_epoch: float | None, prefix: str) -> bool:
    """Shard 0 cleans up only when no shard can still be sending: when whoever released
    the start says so (start_at = stdin), or by the deadline every shard's coordinator
    enforces on itself (a sharded run needs a duration for this). False: leave the keys."""
    if plan.shards == 1 or start_epoch is None:
        return True
    if config.start_at == START_FROM_STDIN:
        if barrier.cleanup_released(sys.stdout, sys.stdin.fileno()):
            return True
        log.warning("cleanup of keys under %r was not released (by whoever released the start) after every "
                    "shard ended: the keys were left in place", prefix)
        return False
    end = every_shard_ended_by(start_epoch, config.duration, DEADLINE_SLACK + config.socket_timeout + STOP_GRACE)
    wait = end - time.time()
    if wait <= 0:
        return True
    log.info("cleanup: waiting %.1f s, until every shard has ended (start_at + duration + the stop bounds)", wait)
    try:
        time.sleep(wait)
    except Stopped:
        log.warning("stopped while waiting for the other shards to end: keys under %r were left in place", prefix)
        raise
    return True


class Supervisor:
    def __init__(self, config: RunConfig, plan: Plan, endpoint: Endpoint, run_id: str, prefix: str,
                 listener=None, before_start=lambda: None):
        self.config = config
        self.before_start = before_start  # once every client is ready, before the start instant
        self.plan = plan
        self.endpoint = endpoint
        self.run_id = run_id
        self.prefix = prefix
        self.listener = listener  # /metrics socket: the reporter's, closed here after its fork
        self.signalled: ExitStatus | None = None
        self.failures: list[str] = []
        self.marked_dead: set[int] = set()
        self.heartbeats = Heartbeats(plan.processes, config.heartbeat_timeout)
        self.fallback = Fallback()
        self.killed = False  # the coordinator had to kill a client that would not stop
        self.started = 0.0
        self.start_epoch: float | None = None  # the start instant (time.time()) once released
        shard, shards = index_and_count(config)
        self.who = f"shard {shard}/{shards}" if shards > 1 else "the run"

    def run(self) -> ExitStatus:
        mp = multiprocessing.get_context("fork")
        reports, control = mp.Queue(), mp.Queue()
        stop = mp.RawValue("b", 0)
        start_at = mp.RawValue("d", 0.0)
        done = mp.RawValue("b", 0)
        me = os.getpid()
        reporter = mp.Process(
            target=reporter_main, name="harness-reporter",
            args=(ReporterContext(self.config, self.plan, self.run_id, self.endpoint, reports, start_at, me, stop,
                                  done, self.listener),),
        )
        clients = [
            mp.Process(
                target=client_main, name=f"harness-client-{index}",
                args=(ClientContext(index, self.config, self.plan, self.endpoint, self.run_id, self.prefix,
                                    reports, control, stop, start_at, me),),
            )
            for index in range(self.plan.processes)
        ]
        reporter.start()
        if self.listener is not None:
            self.listener.close()  # the reporter has its copy; the clients must not hold one
        for client in clients:
            client.start()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        status, reason = ExitStatus.RUN_FAILED, "the coordinator stopped unexpectedly"
        try:
            status, reason = self._supervise(clients, reporter, control, stop, start_at)
        finally:
            _end(clients, grace=0)
            self._read_control(control)  # the last Delta copies, for the fallback
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if reporter.exitcode is None:
                reports.put(RunEnded(int(status), reason, list(self.failures)))
                reporter.join(REPORTER_GRACE + self.config.metrics_linger + CLOSE_WAIT)
                _end([reporter], grace=0)
            # Nobody reads the queue now: never wait at exit to flush into a full pipe.
            reports.cancel_join_thread()
        if not done.value:
            return self._without_reporter(reporter, status, reason)
        # The summary and result file are out; what happens to the reporter afterwards
        # (killed while /metrics lingers, say) does not change what they say.
        if status == ExitStatus.OK and reporter.exitcode == ExitStatus.FAILED_CHECK:
            status = ExitStatus.FAILED_CHECK  # a threshold failed: the reporter said so and why
        return status

    def _without_reporter(self, reporter, status: ExitStatus, reason: str) -> ExitStatus:
        """The reporter ended without its summary and result file: say so, and write
        what the coordinator knows instead (see harness/supervision.py)."""
        if reporter.exitcode == ExitStatus.RUN_FAILED:
            return ExitStatus.RUN_FAILED  # it said why (the result file could not be written)
        text = f"reporter process (pid {reporter.pid}) {how_it_ended(reporter.exitcode)}"
        if not any(failure.startswith("reporter process") for failure in self.failures):
            log.error("%s before it wrote the results", text)
            self.failures.append(text)
        if status not in (ExitStatus.SIGINT, ExitStatus.SIGTERM):
            status, reason = ExitStatus.RUN_FAILED, self.failures[0]
        measured_from = self.started + self.config.warmup if self.started else 0.0
        try:
            self.fallback.write(self.config, self.run_id, measured_from, status, reason, self.failures)
        except OSError as exc:
            log.error("cannot write result file %s: %s", self.config.output, exc.strerror)
        return status

    def _on_signal(self, signum, _frame) -> None:
        status = ExitStatus.SIGINT if signum == signal.SIGINT else ExitStatus.SIGTERM
        if self.signalled is not None:
            raise Stopped(status)  # the second signal: unwind now, killing the clients
        self.signalled = status

    def _supervise(self, clients, reporter, control, stop, start_at) -> tuple[ExitStatus, str]:
        ready = self._wait_ready(clients, reporter, control)
        if ready:
            self.before_start()
        if not ready or not self._release(clients, reporter):
            stop.value = REPORTER_GONE if reporter.exitcode is not None else STOP
            return self._verdict()
        start_at.value = self.started  # clients poll every 2 ms, then sleep until then
        self.heartbeats.start(self.started)
        deadline = self.started + self.config.duration + DEADLINE_SLACK if self.config.duration else float("inf")
        stop_since = None
        kill_after = STOP_GRACE
        while True:
            live = [client for client in clients if client.exitcode is None]
            if not live:
                self._check_exits(clients)
                return self._verdict()
            waiting = [client.sentinel for client in live] + ([reporter.sentinel] if reporter.exitcode is None else [])
            multiprocessing.connection.wait(waiting, POLL)
            now = time.monotonic()
            self._read_control(control)
            self._check_exits(clients)
            self._check_reporter(reporter, stop)
            self._check_heartbeats(clients, now)
            if stop_since is None and now >= deadline:
                sending = [index for index, client in enumerate(clients)
                           if client.exitcode is None and index not in self.heartbeats.finished]
                if sending:
                    log.warning("duration %g s is over but client processes are still sending (%s; a rate "
                                "that cannot be met?): stopping them", self.config.duration,
                                ", ".join(map(str, sending)))
                stop.value = max(stop.value, STOP)
                stop_since, kill_after = now, self.config.socket_timeout + STOP_GRACE
            if stop_since is None and (self.failures or self.signalled):
                stop.value = max(stop.value, STOP)
                stop_since = now
            if stop_since is not None and now - stop_since > kill_after:
                lingering = [client for client in clients if client.exitcode is None]
                if lingering:
                    self._kill(lingering, f"did not stop within {kill_after:.0f} s of the stop request")

    def _check_reporter(self, reporter, stop) -> None:
        if reporter.exitcode is None or stop.value == REPORTER_GONE:
            return
        text = f"reporter process (pid {reporter.pid}) {how_it_ended(reporter.exitcode)}"
        log.error("%s; stopping the run", text)
        self.failures.append(text)
        stop.value = REPORTER_GONE

    def _check_heartbeats(self, clients, now: float) -> None:
        live = [index for index, client in enumerate(clients) if client.exitcode is None]
        for index, silent in self.heartbeats.silent(now, live):
            client = clients[index]
            text = (f"client process {index} (pid {client.pid}) sent nothing for {silent:.1f} s "
                    f"(heartbeat_timeout {self.config.heartbeat_timeout:g} s): stopped or hung; killed it")
            log.error("%s; stopping the run", text)
            self.failures.append(text)
            client.kill()
            client.join(5)

    def _kill(self, lingering, why: str) -> None:
        """After a signal this only hastens the stop the user asked for (the status stays
        130/143); otherwise the run could not end by itself: status 3."""
        pids = ", ".join(str(client.pid) for client in lingering)
        log.warning("%s (%s %s) %s; killing them", plural(len(lingering), "client process"),
                    "pid" if len(lingering) == 1 else "pids", pids, why)
        if not self.signalled:
            self.failures.append(f"client processes (pids {pids}) {why}; killed")
        self.killed = True
        _end(lingering, grace=0)

    def _release(self, clients, reporter) -> bool:
        """Everything is connected: the start barrier (harness/barrier.py) says when the
        load starts; wait until just before it, watching for failures and signals.
        False when the run must not start."""
        def should_stop() -> bool:
            self._check_exits(clients)
            if reporter.exitcode is not None and not self.failures:
                self.failures.append(f"reporter process (pid {reporter.pid}) {how_it_ended(reporter.exitcode)}")
            return bool(self.signalled or self.failures)

        try:
            instant = barrier.start_instant(self.config, should_stop)
        except HarnessError as exc:
            self.failures.append(f"{self.who}: {exc}")
            log.error("%s; stopping", self.failures[-1])
            return False
        if should_stop():
            return False
        self.start_epoch = instant if instant is not None else time.time() + 0.02
        self.started = barrier.monotonic_of(self.start_epoch)
        waiting = [client.sentinel for client in clients] + [reporter.sentinel]
        while time.monotonic() < self.started - RELEASE_LEAD:
            multiprocessing.connection.wait(waiting, min(POLL, max(0.0, self.started - RELEASE_LEAD - time.monotonic())))
            if should_stop():
                return False
        return True

    def _wait_ready(self, clients, reporter, control) -> bool:
        """Until every client is connected; False on a failure or a signal first, or
        when start_at passes first."""
        budget = (self.config.connect_timeout + 2.0) * (self.config.connect_retries + 1) + 5.0
        start_by = barrier.ready_deadline(self.config)
        deadline = min(time.monotonic() + budget, start_by)
        ready: set[int] = set()
        while len(ready) < len(clients):
            if self.signalled or self.failures:
                return False
            if reporter.exitcode is not None:
                self.failures.append(f"reporter process (pid {reporter.pid}) {how_it_ended(reporter.exitcode)}")
                log.error("%s; stopping the run", self.failures[-1])
                return False
            if time.monotonic() > deadline and deadline == start_by:
                self.failures.append(barrier.late(self.config, self.who, len(ready), len(clients)))
                log.error("%s", self.failures[-1])
                return False
            if time.monotonic() > deadline:
                self.failures.append(f"client processes were not connected and prepared within {budget:.0f} s")
                log.error("%s; stopping the run", self.failures[-1])
                return False
            try:
                message = control.get(timeout=POLL)
            except queue.Empty:
                self._check_exits(clients)
                continue
            if isinstance(message, Ready):
                ready.add(message.process)
            elif isinstance(message, Failed):
                self._record_failure(message)
        return True

    def _read_control(self, control) -> None:
        now = time.monotonic()
        while True:
            try:
                message = control.get_nowait()
            except queue.Empty:
                return
            if isinstance(message, Heartbeat):
                self.heartbeats.seen(message.process, now, final=message.delta.final)
                self.fallback.add(message.delta)
            elif isinstance(message, Failed):
                self._record_failure(message)

    def _record_failure(self, message: Failed) -> None:
        text = f"client process {message.process}: {message.reason}"
        if text not in self.failures:
            log.error("%s; stopping the run", text)
            self.failures.append(text)

    def _check_exits(self, clients) -> None:
        for index, client in enumerate(clients):
            code = client.exitcode
            if code is not None and os.environ.get(METRICS_ENV) and client.pid not in self.marked_dead:
                mark_dead(client.pid)  # its live gauges go; its counters stay
                self.marked_dead.add(client.pid)
            if code is None or code == 0:
                continue
            text = f"client process {index} (pid {client.pid}) {how_it_ended(code)}"
            if not any(failure.startswith(f"client process {index}") for failure in self.failures) \
                    and not self.killed:
                log.error("%s; stopping the run", text)
                self.failures.append(text)

    def _verdict(self) -> tuple[ExitStatus, str]:
        if self.failures:
            return ExitStatus.RUN_FAILED, self.failures[0]
        if self.signalled:
            return self.signalled, f"stopped by {self.signalled.name}"
        return ExitStatus.OK, "completed"


def _end(processes, grace: float) -> None:
    """Make sure none of `processes` outlives this call: terminate, then kill."""
    for process in processes:
        if process.exitcode is None:
            process.join(grace)
        if process.exitcode is None:
            process.kill()
            process.join(5)


def _cluster_or_not(client, config: RunConfig, endpoint: Endpoint) -> Endpoint:
    """The endpoint in cluster mode when cluster = true, or (auto) when the server says
    cluster_enabled:1. cluster = false loads the one node as it is (MOVED counted)."""
    if config.cluster is False:
        return endpoint
    try:
        enabled = client.info("cluster").get("cluster_enabled") == 1
    except redis.RedisError:
        enabled = False  # INFO may be refused to a narrow ACL user; then assume standalone
    if config.cluster is True and not enabled:
        raise TargetError(f"cluster = true ({config.source('cluster')}) but {endpoint.describe()} "
                          "is not a cluster node (INFO cluster says cluster_enabled:0)")
    if not enabled:
        return endpoint
    if endpoint.unix_path:
        raise ConfigError("a cluster target needs host and port: its nodes are found by address, not unix socket")
    if endpoint.db:
        raise ConfigError(f"db = {endpoint.db} ({config.source('db')}): a Redis Cluster has database 0 only")
    endpoint = replace(endpoint, cluster=True)
    masters = cluster_masters(endpoint)
    log.info("Redis Cluster: %s (%s); each connection links to every master",
             plural(len(masters), "master"), ", ".join(masters))
    return endpoint


def _check_custom_commands(client, config: RunConfig, prefix: str, confined: bool) -> None:
    spec = WorkloadSpec(config=config, key_prefix=prefix.encode(), seed=0)
    problem = check_templates(client, Custom(spec), prefix.encode(), confined)
    if problem:
        raise ConfigError(f"commands ({config.source('commands')}): {problem}")


def _refuse_taken_prefix(client, config: RunConfig, endpoint: Endpoint, prefix: str, fresh_id: bool) -> None:
    """A prefix is owned by the run or refused: keys already under it may be someone
    else's, and the run would overwrite them and cleanup would delete them. In a
    sharded run shard 0 checks, before its preload; the other shards' keys are its."""
    if config.reuse_prefix or (not config.key_prefix and fresh_id) or index_and_count(config)[0] != 0:
        return  # the default prefix holds a fresh random run id: nothing can be under it yet
    scanned = cluster_client(endpoint) if endpoint.cluster else client
    try:
        found, example, complete = existing_keys(scanned, prefix)
    finally:
        if scanned is not client:
            scanned.close()
    if not found and not complete:
        log.warning("key_prefix %r: no keys found under it in the part of the keyspace SCAN covered "
                    "within its time limit", prefix)
    if found:
        name = "key_prefix" if config.key_prefix else "run_id" if config.run_id else "start_at"
        where = config.source(name) if config.key_prefix else f"from {name}, {config.source(name)}"
        raise ConfigError(
            f"key_prefix = {prefix!r} ({where}) already holds keys (at least {found}, "
            f"e.g. {example.decode(errors='replace')!r}): the run would overwrite them and cleanup would "
            f"delete them; choose another {name}, or set reuse_prefix = true if they are yours to lose"
        )


def _write_unstarted(config: RunConfig, status: ExitStatus, reason: str) -> None:
    """A run that could not start still leaves a result file saying why."""
    if not config.output:
        return
    try:
        write_result(config.output, {"harness": harness_block(CommandStats(), 0.0, status, reason)})
        if config.output != "-":
            log.info("result file: %s", config.output)
    except OSError as exc:
        raise HarnessError(f"cannot write result file {config.output}: {exc.strerror}") from None


def _cleanup(endpoint: Endpoint, config: RunConfig, prefix: str) -> None:
    try:
        client = cluster_client(endpoint) if endpoint.cluster else connect(endpoint, retries=config.connect_retries)
        try:
            removed = delete_keys(client, prefix)
        finally:
            client.close()
        log.info("cleanup: removed %s under %r", plural(removed, "key"), prefix)
    except (HarnessError, redis.RedisError) as exc:
        reason = str(exc) if isinstance(exc, HarnessError) else explain_failure(exc)[0]
        log.warning("cleanup of keys under %r failed: %s", prefix, reason)
