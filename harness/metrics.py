"""Prometheus: client processes add their per-second deltas to prometheus_client's
multiprocess counters; the reporter serves /metrics through MultiProcessCollector.

prometheus_client chooses its multiprocess storage when it is first imported, so the
coordinator calls prepare_directory() (which sets PROMETHEUS_MULTIPROC_DIR) before it
forks, and nothing imports prometheus_client at module level: only the functions here,
inside the processes that use them. When prometheus_port is 0 none of this runs.

Metrics (base units, conventional names):
  harness_operations_total{command,status}        status = ok | error | indeterminate
  harness_errors_total{command,error_type}
  harness_operation_duration_seconds{command}     histogram, 50 us .. 10 s
  harness_pubsub_messages_total{direction}        direction = published | received
  harness_run_info{run_id,workload,target}        1 while the run is served
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import os
import shutil
import socket
import tempfile

from harness import lifecycle
from harness.errors import ConfigError
from harness.histogram import value_of
from harness.messages import Delta
from harness.redact import mask_text, mask_url, strip_credentials

log = logging.getLogger("harness")

# Bucket upper bounds (seconds) that fit Redis: most operations take 50 us to a few ms.
DURATION_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
ENV = "PROMETHEUS_MULTIPROC_DIR"


DIRECTORY_PREFIX = "harness-prometheus-"
# harness-prometheus-<coordinator pid>-<random>: the pid says whose it is.


def prepare_directory() -> str:
    """A fresh, empty multiprocess directory, exported to this process and its children.
    Directories that killed coordinators left behind are removed first."""
    remove_stale_directories(tempfile.gettempdir())
    directory = tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-")
    os.environ[ENV] = directory
    return directory


def remove_stale_directories(parent: str, alive=None) -> list[str]:
    """Remove this user's multiprocess directories whose coordinator is gone (kill -9
    leaves them: its finally blocks never ran)."""
    import psutil

    removed = lifecycle.remove_stale_directories(parent, DIRECTORY_PREFIX, alive or psutil.pid_exists)
    if removed:
        log.info("removed %d Prometheus directories left by killed runs: %s", len(removed), ", ".join(removed))
    return removed


def remove_directory(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    if os.environ.get(ENV) == directory:
        del os.environ[ENV]


def bind_listener(port: int, bind: str, source: str) -> socket.socket:
    """In the coordinator, before the target is touched and before any fork: the
    listening socket /metrics will be served on, so a port in use or an address this
    machine does not have fails the run now (ConfigError), not after the load. The
    reporter inherits it through fork; the coordinator closes its copy before it forks
    the client processes."""
    try:
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        return socket.create_server((bind, port), family=family, backlog=64)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot serve /metrics on {bind}:{port} (prometheus_port {source}): {reason}") from None


def is_loopback(bind: str) -> bool:
    if bind.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def mark_dead(pid: int) -> None:
    """Drop an exited process's live gauges (its counters stay, as they should)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


class ClientMetrics:
    """In a client process: the same deltas the reporter gets, added once a second."""

    def __init__(self):
        from prometheus_client import Counter, Histogram

        self.operations = Counter("harness_operations", "Operations sent, by outcome",
                                  ["command", "status"])
        self.errors = Counter("harness_errors", "Failed operations by error type",
                              ["command", "error_type"])
        self.duration = Histogram("harness_operation_duration_seconds",
                                  "Operation latency (from intended start when paced)",
                                  ["command"], buckets=DURATION_BUCKETS)
        self.pubsub = Counter("harness_pubsub_messages", "Pub/sub messages", ["direction"])

    def add(self, delta: Delta) -> None:
        stats = delta.stats
        for command, count in stats.ok.items():
            if count:
                self.operations.labels(command, "ok").inc(count)
        for (command, kind), count in stats.errors.items():
            self.operations.labels(command, "error").inc(count)
            self.errors.labels(command, kind).inc(count)
        for (command, _), count in stats.indeterminate.items():  # written, never answered
            self.operations.labels(command, "indeterminate").inc(count)
        for command in {*stats.latency, *(name for name, _ in stats.error_latency)}:
            self._observe_many(command, stats.latency_of(command))
        if stats.ok.get("PUBLISH"):
            self.pubsub.labels("published").inc(stats.ok["PUBLISH"])
        if delta.pubsub.received:
            self.pubsub.labels("received").inc(delta.pubsub.received)

    def _observe_many(self, command: str, counts: dict) -> None:
        """Add a whole latency histogram at once. prometheus_client has no bulk observe;
        its Histogram keeps one (non-cumulative) value per bucket plus a sum, which is
        what observe() updates, so we update the same values with the counts."""
        child = self.duration.labels(command)
        total = 0.0
        for index, count in counts.items():
            seconds = value_of(index) / 1_000_000
            position = min(bisect.bisect_left(DURATION_BUCKETS, seconds), len(DURATION_BUCKETS))
            child._buckets[position].inc(count)  # the last one is +Inf
            total += seconds * count
        child._sum.inc(total)


def serve(listener: socket.socket, run_id: str, workload: str, target: str):
    """In the reporter: serve /metrics on the inherited listening socket from a thread;
    returns the server to shut down."""
    import threading

    from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app, multiprocess
    from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

    info = Gauge("harness_run_info", "The run being served", ["run_id", "workload", "target"],
                 multiprocess_mode="liveall")
    info.labels(run_id, workload, target).set(1)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)

    class Server(ThreadingWSGIServer):
        address_family = listener.family

        def server_bind(self):  # already bound: take the inherited socket as it is
            self.socket.close()
            self.socket = listener
            self.server_address = listener.getsockname()
            self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
            self.setup_environ()

        def server_activate(self):  # already listening
            pass

    host, port = listener.getsockname()[:2]
    server = Server((host, port), _SilentHandler)
    server.set_app(make_wsgi_app(registry))
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


PUSH_TIMEOUT = 5.0


def push_metrics(url: str, run_id: str) -> None:
    """From the coordinator, after the client processes have exited: push the merged
    multiprocess metrics once (job=redis-harness, instance=<host>, run_id). Credentials
    in the URL go as HTTP basic auth, never into a log line. A failed push is a warning
    with the reason; it does not change the run's exit status or its result file."""
    from prometheus_client import CollectorRegistry, multiprocess, push_to_gateway
    from prometheus_client.exposition import basic_auth_handler, default_handler

    shown = mask_url(url)
    bare, user, password = strip_credentials(url)
    handler = default_handler
    if user or password:
        def handler(url, method, timeout, headers, data):
            return basic_auth_handler(url, method, timeout, headers, data, user, password)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    try:
        push_to_gateway(bare, job="redis-harness", registry=registry, timeout=PUSH_TIMEOUT, handler=handler,
                        grouping_key={"instance": socket.gethostname(), "run_id": run_id})
    except Exception as exc:  # noqa: BLE001 - reported, then the run ends as it would have
        reason = mask_text(str(getattr(exc, "reason", None) or exc)).replace(password or "\0", "***")
        log.warning("push to the Pushgateway at %s failed: %s; the run's result is unaffected", shown, reason)
        return
    log.info("pushed the run's metrics to the Pushgateway at %s", shown)
