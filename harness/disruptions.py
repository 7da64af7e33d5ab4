"""Disruptions: spans in which the target could not serve (a failover, a restart, a
master demoted behind Sentinel, a cluster node gone), and how long recovery took.

Each connection reports (failing since, served again, operations failed meanwhile,
which connection);
the reporter merges the spans of all connections that overlap (or follow each other
within GAP seconds) into one disruption: from the first connection that failed to the
last one that was served again. That last moment is the recovery time an operator
asks about after a failover. Pure; fed by the reporter.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.plural import plural

# Spans this close together count as one disruption (connections reconnect one by one).
GAP = 1.0
# A run that flaps for days keeps at most this many disruptions (the latest are merged in).
MAX_DISRUPTIONS = 1000


@dataclass
class Disruption:
    start: float  # monotonic s
    end: float | None  # None: not served again within the run
    failed: int  # operations that failed during it
    who: set  # the connections it hit, as (pid, connection number)

    @property
    def connections(self) -> int:
        return len(self.who)

    def overlaps(self, start: float, end: float | None) -> bool:
        mine = float("inf") if self.end is None else self.end
        theirs = float("inf") if end is None else end
        return start <= mine + GAP and theirs >= self.start - GAP

    def absorb(self, start: float, end: float | None, failed: int, who: set) -> None:
        self.start = min(self.start, start)
        self.end = None if end is None or self.end is None else max(self.end, end)
        self.failed += failed
        self.who |= who


def merge(known: list[Disruption], spans: list[tuple]) -> list[Disruption]:
    """`known` with each (start, end, failed, connection) span merged in; sorted by
    start. A connection that fails again within the gap adds to the same disruption."""
    for start, end, failed, connection in spans:
        for disruption in known:
            if disruption.overlaps(start, end):
                disruption.absorb(start, end, failed, {connection})
                break
        else:
            known.append(Disruption(start, end, failed, {connection}))
    known = _coalesce(sorted(known, key=lambda d: d.start))
    if len(known) > MAX_DISRUPTIONS:
        last = known.pop()
        known[-1].absorb(last.start, last.end, last.failed, last.who)
    return known


def _coalesce(ordered: list[Disruption]) -> list[Disruption]:
    """Merging a span can make two neighbours overlap; join them."""
    out: list[Disruption] = []
    for disruption in ordered:
        if out and out[-1].overlaps(disruption.start, disruption.end):
            out[-1].absorb(disruption.start, disruption.end, disruption.failed, disruption.who)
        else:
            out.append(disruption)
    return out


def report(disruptions: list[Disruption], run_start: float) -> list[dict]:
    """The result file's list: when each began (s into the run), how long until the
    target served every connection again (null: not within the run), what failed."""
    return [
        {
            "at_s": round(d.start - run_start, 3),
            "recovered_after_s": None if d.end is None else round(d.end - d.start, 3),
            "failed_operations": d.failed,
            "connections": d.connections,
        }
        for d in disruptions
    ]


def describe(entry: dict) -> str:
    """One summary line for a disruption from report()."""
    after = entry["recovered_after_s"]
    outcome = f"served again after {after:.3f} s" if after is not None else "not served again before the end"
    return (f"disruption at {entry['at_s']:.1f} s: {plural(entry['failed_operations'], 'operation')} failed or "
            f"unanswered on {plural(entry['connections'], 'connection')}; {outcome}")
