"""What a client process's threads share: the flags its main thread sets (Control), the
run's clock (Clock), and what each worker thread reports back (Report).

Runs in a client process after the fork; nothing here crosses a process boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.stats import CommandStats, PubSubStats


class Control:
    """Flags the process's main thread sets for its worker threads (plain attributes:
    reading one costs nothing, unlike a multiprocessing.Event).

    `publish_round` goes up once per Delta interval; each thread answers with a Report
    for that round at its next loop turn, so all threads' figures cover the same span.
    """

    def __init__(self):
        self.stopping = False
        self.publish_round = 0
        self.publishers_done = False  # pub_sub: every worker thread has finished
        # Sentinel: raised when the master's address changes (harness.sentinel_watch);
        # each thread then moves its connections to the new master.
        self.master_moves = 0
        self.master_moved_at = 0.0


@dataclass(frozen=True)
class Clock:
    start: float  # time.monotonic() at which load starts, the same in every process
    deadline: float  # when to stop sending (inf without a duration)
    warmup_end: float  # operations intended to start before this are left out of the results


@dataclass
class Report:
    """What a worker thread publishes to its process when asked (Control.publish_round)."""

    thread: int
    round: int
    stats: CommandStats
    warmup: CommandStats
    lag: float
    max_lag: float
    connections: int
    last_reply: float = 0.0
    final: bool = False
    pubsub: PubSubStats | None = None
    first_send: float = 0.0  # time.monotonic() of the thread's first batch; 0: none yet
