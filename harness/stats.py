"""What the harness measured: counts, errors, null replies and latency per command,
and pub/sub delivery figures.

Pure data; merged across threads, processes and intervals by adding. Latency is kept
in histogram.py's sparse HdrHistogram-layout dicts (microseconds).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import redis

from harness import histogram


@dataclass
class CommandStats:
    # Successful operations per command name.
    ok: Counter = field(default_factory=Counter)
    # Failed operations per (command name, error type).
    errors: Counter = field(default_factory=Counter)
    # Successful operations whose reply was null (a GET or HGET miss, an empty RPOP).
    nulls: Counter = field(default_factory=Counter)
    # Latency of successful operations per command name: {histogram index: count}.
    latency: dict = field(default_factory=dict)
    # Latency of operations the server answered with an error, per (command, error type).
    error_latency: dict = field(default_factory=dict)
    # Service time (from the write to the reply, queueing behind a schedule left out) of
    # successful operations per command name: {histogram index: count}.
    service: dict = field(default_factory=dict)
    # Operations written on a connection that failed (or timed out) before their reply:
    # the server may or may not have run them. Per (command name, cause).
    indeterminate: Counter = field(default_factory=Counter)
    # Request bytes sent per command name.
    bytes_sent: Counter = field(default_factory=Counter)
    # Round trips (a batch of `pipeline` commands is one).
    batches: int = 0
    # Sampled batches for tracing: (command, start, end (monotonic s), error type or "").
    samples: list = field(default_factory=list)
    # Per connection: (failing since, served again (None: not within the run), operations
    # failed meanwhile, (pid, connection number)), monotonic s. A lost connection, a
    # timeout, or READONLY from a demoted master (harness.disruptions).
    disruptions: list = field(default_factory=list)
    # Redis Cluster: final replies per node ("host:port"), and MOVED / ASK redirections
    # followed (a redirected command counts once, where it was finally answered).
    nodes: Counter = field(default_factory=Counter)
    redirections: Counter = field(default_factory=Counter)

    def add(self, other: "CommandStats") -> None:
        self.ok.update(other.ok)
        self.errors.update(other.errors)
        self.nulls.update(other.nulls)
        self.bytes_sent.update(other.bytes_sent)
        for name, counts in other.latency.items():
            histogram.merge(self.latency.setdefault(name, {}), counts)
        for name, counts in other.service.items():
            histogram.merge(self.service.setdefault(name, {}), counts)
        self.indeterminate.update(other.indeterminate)
        for key, counts in other.error_latency.items():
            histogram.merge(self.error_latency.setdefault(key, {}), counts)
        self.batches += other.batches
        self.samples += other.samples
        self.disruptions += other.disruptions
        self.nodes.update(other.nodes)
        self.redirections.update(other.redirections)

    def latency_of(self, command: str) -> dict:
        """Every answered operation of a command, successful or not."""
        merged = dict(self.latency.get(command, {}))
        for (name, _), counts in self.error_latency.items():
            if name == command:
                histogram.merge(merged, counts)
        return merged

    def errors_of(self, command: str) -> int:
        return sum(n for (name, _), n in self.errors.items() if name == command)

    def indeterminate_of(self, command: str) -> int:
        return sum(n for (name, _), n in self.indeterminate.items() if name == command)

    def count_of(self, command: str) -> int:
        """Every operation attempted: succeeded, failed, or of unknown outcome. The
        server's commandstats counts succeeded + server errors + (0 to indeterminate)."""
        return self.ok[command] + self.errors_of(command) + self.indeterminate_of(command)

    def commands(self) -> list[str]:
        return sorted(set(self.ok) | {name for name, _ in self.errors} | {name for name, _ in self.indeterminate})

    def indeterminate_by_type(self) -> dict[str, int]:
        by_cause: Counter = Counter()
        for (_, cause), n in self.indeterminate.items():
            by_cause[cause] += n
        return dict(by_cause)

    def errors_by_type(self) -> dict[str, int]:
        by_type: Counter = Counter()
        for (_, kind), n in self.errors.items():
            by_type[kind] += n
        return dict(by_type)

    def all_latency(self) -> dict:
        merged: dict = {}
        for counts in [*self.latency.values(), *self.error_latency.values()]:
            histogram.merge(merged, counts)
        return merged

    @property
    def total(self) -> int:
        return sum(self.ok.values()) + self.total_errors + self.total_indeterminate

    @property
    def total_indeterminate(self) -> int:
        return sum(self.indeterminate.values())

    @property
    def total_errors(self) -> int:
        return sum(self.errors.values())


@dataclass
class PubSubStats:
    """What subscribers received; expected deliveries are worked out by the reporter."""

    received: int = 0
    out_of_order: int = 0
    resubscribes: int = 0
    latency: dict = field(default_factory=dict)

    def add(self, other: "PubSubStats") -> None:
        self.received += other.received
        self.out_of_order += other.out_of_order
        self.resubscribes += other.resubscribes
        histogram.merge(self.latency, other.latency)


def error_type(exc: BaseException) -> str:
    """connection, timeout, or the server's error prefix (OOM, WRONGTYPE, NOPERM, MOVED...)."""
    # redis-py strips known prefixes (OOM, NOPERM, MOVED...) from the message and keeps
    # them here; unknown ones (WRONGTYPE, BUSY...) stay the message's first word.
    code = getattr(exc, "status_code", None)
    if code:
        return code
    if isinstance(exc, (redis.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, (redis.ConnectionError, OSError)):
        return "connection"
    if isinstance(exc, redis.ResponseError):
        word = str(exc).split(" ", 1)[0]
        return word if word.isupper() else "ERR"
    return type(exc).__name__
