"""When each batch of operations should start: open-loop schedules for a target rate.

Runs inside a worker thread; no Redis here. With a rate, every batch has an intended
start time on a fixed grid (start + k * interval). When the thread falls behind, it
still sends at once and measures latency from the intended time, so a slow server
shows up as latency and lag instead of a silently lower rate (coordinated omission,
as in wrk2 and YCSB's intended mode). Without a rate the loop is closed: a batch is
due as soon as a connection is free, and its latency runs from the moment it is sent.
"""

from __future__ import annotations


# How long after the end a thread that is behind schedule may still send batches
# intended before the end.
LATE_AT_END = 0.01


class Schedule:
    """Intended start times for batches of `batch` operations at `rate` operations/s."""

    def __init__(self, rate: float, batch: int, start: float, end: float = float("inf")):
        self.open_loop = rate > 0
        self.interval = batch / rate if rate > 0 else 0.0
        self.start = start
        self.end = end
        self.count = 0

    def due(self, now: float) -> float | None:
        """The intended start of the next batch if it is due by `now`, else None."""
        if not self.open_loop:
            return now if now < self.end else None
        intended = self.start + self.count * self.interval
        return intended if intended <= now else None

    def finished(self, now: float) -> bool:
        """No batch is left before the end: closed loop by the clock; open loop by the
        grid, so a batch intended just before the end is still sent if the thread wakes
        a little late, and by the clock LATE_AT_END after the end, so a schedule the
        target cannot keep up with does not run on past `duration` (its lag says so)."""
        if not self.open_loop:
            return now >= self.end
        return self.start + self.count * self.interval >= self.end or now >= self.end + LATE_AT_END

    def next_time(self) -> float:
        """When the next batch is due (open loop); the loop sleeps until then."""
        return self.start + self.count * self.interval

    def taken(self) -> None:
        """The due batch was sent."""
        self.count += 1

    def lag(self, now: float) -> float:
        """How far behind schedule the thread is: 0 when on time or unthrottled."""
        if not self.open_loop:
            return 0.0
        return max(0.0, now - self.next_time())
