"""When each batch of operations should start: open-loop schedules for a target rate.

Runs inside a worker thread; no Redis here. With a rate, every batch has an intended
start time on a fixed grid (start + k * interval). When the thread falls behind, it
still sends at once and measures latency from the intended time, so a slow server
shows up as latency and lag instead of a silently lower rate (coordinated omission,
as in wrk2 and YCSB's intended mode). Without a rate the loop is closed: a batch is
due as soon as a connection is free, and its latency runs from the moment it is sent.

With stages (k6's ramping-arrival-rate) the target rate moves linearly from one
stage's end to the next's; batch k is intended at the moment the rate's integral from
the start reaches k batches, so the schedule follows the ramps exactly.
"""

from __future__ import annotations

import math

# How long after the end a thread that is behind schedule may still send batches
# intended before the end.
LATE_AT_END = 0.01


class RateProfile:
    """A target rate over time (operations/s against seconds from the start): linear
    segments from `rate` through each stage's (duration, rate at its end), or `rate`
    for ever without stages."""

    def __init__(self, rate: float, stages: tuple = ()):
        self.segments = []  # (from s, to s, rate at from, rate at to, operations before from)
        begin, level, before = 0.0, rate, 0.0
        for seconds, target in stages or ((math.inf, rate),):
            self.segments.append((begin, begin + seconds, level, target, before))
            before += seconds * (level + target) / 2
            begin, level = begin + seconds, target

    @classmethod
    def of(cls, config) -> "RateProfile | None":
        """The run's target (rate and stages); None for a closed loop."""
        return cls(config.rate, config.stages) if config.rate > 0 or config.stages else None

    def peak(self) -> float:
        """The highest rate the profile reaches."""
        return max(max(low, high) for _, _, low, high, _ in self.segments)

    def rate_at(self, elapsed: float) -> float:
        """The target rate `elapsed` seconds after the start (0 after the last stage)."""
        for begin, end, low, high, _ in self.segments:
            if begin <= elapsed < end:
                return low if low == high else low + (high - low) * (elapsed - begin) / (end - begin)
        return 0.0

    def operations_by(self, elapsed: float) -> float:
        """The rate's integral from the start to `elapsed` seconds."""
        total = 0.0
        for begin, end, low, high, before in self.segments:
            if elapsed < begin:
                break
            inside = min(elapsed, end) - begin
            slope = 0.0 if low == high else (high - low) / (end - begin)
            total = before + low * inside + slope * inside * inside / 2
        return total

    def time_of(self, operations: float, segment: int = 0) -> tuple[float, int]:
        """When the rate's integral reaches `operations` (inf if it never does), and the
        segment it is in, from which a later call may start looking."""
        segments = self.segments
        while segment < len(segments):
            begin, end, low, high, before = segments[segment]
            length = end - begin
            inside = operations - before
            if inside <= length * (low + high) / 2 and (low or high):
                slope = 0.0 if low == high else (high - low) / length
                if slope == 0:
                    return begin + inside / low, segment
                # low * t + slope * t^2 / 2 = inside, for the t in [0, length]
                return begin + (math.sqrt(max(0.0, low * low + 2 * slope * inside)) - low) / slope, segment
            segment += 1
        return math.inf, segment

    def scaled(self, share: float) -> "RateProfile":
        """The same shape at `share` of the rate (one thread's part)."""
        profile = RateProfile(0.0)
        profile.segments = [(begin, end, low * share, high * share, before * share)
                            for begin, end, low, high, before in self.segments]
        return profile


class Schedule:
    """Intended start times for batches of `batch` operations along `profile` (or at a
    constant `rate` operations/s); without either, a closed loop."""

    def __init__(self, rate: float, batch: int, start: float, end: float = float("inf"),
                 profile: RateProfile | None = None):
        self.profile = profile if profile is not None else RateProfile(rate) if rate > 0 else None
        self.open_loop = self.profile is not None
        self.batch = batch
        self.start = start
        self.end = end
        self.count = 0
        self._segment = 0
        self._next = self._time_of(0) if self.open_loop else start

    def _time_of(self, count: int) -> float:
        # A batch is due when its first operation is: when the integral reaches count batches.
        offset, self._segment = self.profile.time_of(count * self.batch, self._segment)
        return self.start + offset

    def due(self, now: float) -> float | None:
        """The intended start of the next batch if it is due by `now`, else None."""
        if not self.open_loop:
            return now if now < self.end else None
        return self._next if self._next <= now else None

    def finished(self, now: float) -> bool:
        """No batch is left before the end: closed loop by the clock; open loop by the
        grid, so a batch intended just before the end is still sent if the thread wakes
        a little late, and by the clock LATE_AT_END after the end, so a schedule the
        target cannot keep up with does not run on past `duration` (its lag says so)."""
        if not self.open_loop:
            return now >= self.end
        return self._next >= self.end or now >= self.end + LATE_AT_END

    def next_time(self) -> float:
        """When the next batch is due (open loop); the loop sleeps until then."""
        return self._next

    def taken(self) -> None:
        """The due batch was sent."""
        self.count += 1
        self._next = self._time_of(self.count)

    def lag(self, now: float) -> float:
        """How far behind schedule the thread is: 0 when on time or unthrottled."""
        if not self.open_loop:
            return 0.0
        return max(0.0, now - self._next)
