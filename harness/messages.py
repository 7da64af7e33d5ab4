"""Messages on the shared queue from client processes (and the coordinator) to the reporter.

Data only. A client process sends at most one Delta per interval (<= 1 s), never one
per operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.stats import CommandStats, PubSubStats

# Values of the shared stop flag the coordinator sets for the client processes.
STOP = 1  # stop sending, finish in-flight operations, send the last figures
REPORTER_GONE = 2  # the same, and the reporter is dead: do not wait to flush its queue


@dataclass
class Delta:
    """What one client process did since its previous Delta."""

    process: int
    stats: CommandStats  # measured operations (after warmup)
    warmup: CommandStats = field(default_factory=CommandStats)  # left out of the results
    pubsub: PubSubStats = field(default_factory=PubSubStats)
    lag: float = 0.0  # seconds behind the rate schedule now (max over threads)
    max_lag: float = 0.0  # the most it fell behind during the interval
    connections: int = 0  # connections open now
    final: bool = False  # the process's last Delta
    until: float = 0.0  # time.monotonic() when this Delta's window closed
    first_send: float = 0.0  # time.monotonic() of the process's first batch; 0: none yet


@dataclass
class Preloaded:
    """What a client process sent to fill the keyspace before the timed phase."""

    process: int
    stats: CommandStats


@dataclass
class ProcessEnded:
    """A client process finished cleanly; `last_reply` is when its last reply came in,
    `cpu_seconds` the CPU time the process used (all its threads) from the start of the
    load, `setup_cpu_seconds` before it (connecting, encoding keys and values),
    `max_rss_mb` its peak resident memory."""

    process: int
    last_reply: float
    cpu_seconds: float = 0.0
    setup_cpu_seconds: float = 0.0
    max_rss_mb: float = 0.0


@dataclass
class RunEnded:
    """From the coordinator, after every client process has exited: finish the output."""

    status: int
    reason: str
    failures: list[str] = field(default_factory=list)


# From a client process to the coordinator (its control queue).
@dataclass
class Ready:
    """Connected and prepared: waiting for the start signal."""

    process: int


@dataclass
class Failed:
    """The process is about to exit non-zero, for this reason."""

    process: int
    reason: str


@dataclass
class Heartbeat:
    """A copy of a Delta for the coordinator: proof of life, and what it can write as
    the result if the reporter dies."""

    process: int
    delta: Delta
