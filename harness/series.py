"""The result file's time series ("Time-Serie"), kept small in the reporter.

A run of hours has thousands of points, so a point does not keep the full
3-significant-digit histograms: it keeps each command's count and its latency at 2
significant digits (HdrHistogram's layout with 256 sub-buckets; percentiles within 1%)
as a flat array of (index, count) pairs, a few hundred bytes per command. Points merge
exactly, which is how a long series halves its resolution (see reporter.py).
"""

from __future__ import annotations

from array import array

from harness import histogram
from harness.stats import CommandStats

MAGNITUDE = 7  # 2 significant digits


def _to_dict(pairs: array) -> dict:
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}


def _to_pairs(counts: dict) -> array:
    return array("q", [part for index in sorted(counts) for part in (index, counts[index])])


def _add_coarse(into: dict[str, array], name: str, counts: dict) -> None:
    """3-digit counts added to a 2-digit (index, count) array."""
    merged = _to_dict(into.get(name, array("q")))
    for index, n in counts.items():
        coarse = histogram.index_at(histogram.value_of(index), MAGNITUDE)
        merged[coarse] = merged.get(coarse, 0) + n
    into[name] = _to_pairs(merged)


def _merge_pairs(into: dict[str, array], other: dict[str, array]) -> None:
    for name, pairs in other.items():
        merged = _to_dict(into.get(name, array("q")))
        for index, n in _to_dict(pairs).items():
            merged[index] = merged.get(index, 0) + n
        into[name] = _to_pairs(merged)


class SeriesPoint:
    __slots__ = ("counts", "latency", "service", "redirections", "nodes")

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.latency: dict[str, array] = {}
        self.service: dict[str, array] = {}  # a paced run: write to reply, beside latency from the intended start
        self.redirections: dict[str, int] = {}  # Redis Cluster: MOVED / ASK followed
        self.nodes: dict[str, int] = {}  # Redis Cluster: operations answered by each master

    def add(self, stats: CommandStats, service: bool = False) -> None:
        """Add a Delta's stats; with service (a paced run) its service time too: without
        a schedule it equals latency, and would only double the series."""
        for kind, n in stats.redirections.items():
            self.redirections[kind] = self.redirections.get(kind, 0) + n
        for node, n in stats.nodes.items():
            self.nodes[node] = self.nodes.get(node, 0) + n
        for name in stats.commands():
            self.counts[name] = self.counts.get(name, 0) + stats.count_of(name)
        for name in {*stats.latency, *(name for name, _ in stats.error_latency)}:
            _add_coarse(self.latency, name, stats.latency_of(name))
        for name, counts in stats.service.items() if service else ():
            _add_coarse(self.service, name, counts)

    def merge(self, other: "SeriesPoint") -> None:
        for kind, n in other.redirections.items():
            self.redirections[kind] = self.redirections.get(kind, 0) + n
        for node, n in other.nodes.items():
            self.nodes[node] = self.nodes.get(node, 0) + n
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        _merge_pairs(self.latency, other.latency)
        _merge_pairs(self.service, other.service)

    def count(self, command: str | None = None) -> int:
        return sum(self.counts.values()) if command is None else self.counts.get(command, 0)

    def summary(self, command: str | None = None, service: bool = False) -> histogram.Summary:
        """Latency (or, with service, service time) of one command or all of them."""
        kept = self.service if service else self.latency
        if command is not None:
            return histogram.Summary(_to_dict(kept.get(command, array("q"))), MAGNITUDE)
        merged: dict = {}
        for pairs in kept.values():
            for index, n in _to_dict(pairs).items():
                merged[index] = merged.get(index, 0) + n
        return histogram.Summary(merged, MAGNITUDE)
