"""Chart data from a result file's "ALL STATS": throughput and latency over time, and
the latency percentile spectrum from the stored compressed histograms.

Pure: dicts in, chart dicts out (see report_data.py for the chart's shape). Reads what
a block holds and leaves out what it does not, so memtier_benchmark's files (whose
blocks are "Sets", "Gets", "Waits", "Totals", with the same keys) work as ours do.
"""

from __future__ import annotations

import math

from harness import histogram
from harness.compare import number

# The spectrum's x is 1/(1-q) on a log scale (HdrHistogram's percentile plot): this many
# points per decade, from the median (x = 2) ... to 99.99999% (x = 10^7) at most.
SPECTRUM_STEPS_PER_DECADE = 20
SPECTRUM_MAX_DECADES = 7
# Per-second latencies in a Time-Serie point and their labels.
LATENCY_KEYS = (("p50.00", "p50"), ("p99.00", "p99"), ("p99.90", "p99.9"), ("Max Latency", "max"))
# A paced run's service time (write to reply) per point, drawn dashed beside latency.
SERVICE_KEYS = (("Service p50.00", "service p50"), ("Service p99.00", "service p99"))
TOTALS = "Totals"


def chart(chart_id: str, title: str, x: list, series: list[dict], x_label: str, y_label: str,
          kind: str = "time", bands: list | None = None) -> dict | None:
    """A chart, or None when no series has a single point (nothing to draw)."""
    series = [s for s in series if any(v is not None for v in s["values"])]
    if not x or not series:
        return None
    return {"id": chart_id, "title": title, "kind": kind, "x": x, "series": series,
            "x_label": x_label, "y_label": y_label, "bands": bands or []}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def points(block: dict) -> list[tuple[int, dict]]:
    """A block's Time-Serie as sorted (second, point); [] when it has none."""
    serie = block.get("Time-Serie")
    if not isinstance(serie, dict):
        return []
    out = []
    for key, point in serie.items():
        try:
            second = int(key)
        except (TypeError, ValueError):
            continue
        if isinstance(point, dict):
            out.append((second, point))
    return sorted(out, key=lambda pair: pair[0])


def step_of(seconds: list[int]) -> int:
    """Seconds per point: a long run's series halves its resolution (reporter.py)."""
    return min((b - a for a, b in zip(seconds, seconds[1:])), default=1) or 1


def command_names(blocks: dict) -> list[str]:
    """The commands with operations, in the file's order, Totals left out."""
    return [name for name, block in blocks.items()
            if name != TOTALS and (number(block.get("Count")) or number(block.get("Ops/sec")))]


def seconds_axis(blocks: dict) -> list[int]:
    seconds = set()
    for block in blocks.values():
        seconds.update(second for second, _ in points(block))
    return sorted(seconds)


def throughput(blocks: dict, axis: list[int], names: list[str]) -> list[dict]:
    """ops/s per point, per command and in total."""
    step = step_of(axis)
    series = []
    for name in [TOTALS, *names]:
        if name not in blocks:
            continue
        by_second = {second: number(point.get("Count")) for second, point in points(blocks[name])}
        values = [None if by_second.get(s) is None else _round(by_second[s] / step, 1) for s in axis]
        series.append({"label": "total" if name == TOTALS else name, "values": values})
    return series


def target(blocks: dict, axis: list[int]) -> dict | None:
    """A paced run's target ops/s ("Target Count" beside each Totals point)."""
    step = step_of(axis)
    by_second = {second: number(point.get("Target Count")) for second, point in points(blocks.get(TOTALS, {}))}
    if not any(v is not None for v in by_second.values()):
        return None
    return {"label": "target", "values": [None if by_second.get(s) is None else _round(by_second[s] / step, 1)
                                          for s in axis], "dash": True}


def latency_over_time(block: dict, axis: list[int]) -> list[dict]:
    """p50/p99/p99.9/max per point and, where the points hold it, service time dashed
    in the same colour as the latency it sits beside."""
    by_second = dict(points(block))
    series = [{"label": label, "values": [_round(number(by_second.get(s, {}).get(key))) for s in axis]}
              for key, label in LATENCY_KEYS]
    for (key, label), beside in zip(SERVICE_KEYS, ("p50", "p99")):
        values = [_round(number(by_second.get(s, {}).get(key))) for s in axis]
        if any(v is not None for v in values):
            series.append({"label": label, "values": values, "dash": True, "group": beside})
    return series


def redirections(blocks: dict, axis: list[int]) -> list[dict]:
    """MOVED and ASK followed per second (a Cluster run's Totals points)."""
    by_second = {second: point.get("Redirections") for second, point in points(blocks.get(TOTALS, {}))}
    if not any(isinstance(v, dict) for v in by_second.values()):
        return []
    step = step_of(axis)
    return [{"label": kind, "values": [_round((by_second.get(s) or {}).get(kind, 0) / step, 1) for s in axis]}
            for kind in ("MOVED", "ASK")]


def per_node(blocks: dict, axis: list[int]) -> list[dict]:
    """Operations per second answered by each master (a Cluster run's Totals points)."""
    by_second = {second: point.get("Nodes") for second, point in points(blocks.get(TOTALS, {}))}
    nodes = sorted({node for v in by_second.values() if isinstance(v, dict) for node in v})
    step = step_of(axis)
    return [{"label": node, "values": [_round((number((by_second.get(s) or {}).get(node)) or 0) / step, 1)
                                       for s in axis]} for node in nodes]


def histogram_counts(block: dict) -> dict | None:
    """The block's whole-run latency histogram, or None if it has none or it is unreadable."""
    percentiles = block.get("Percentile Latencies")
    encoded = None
    if isinstance(percentiles, dict) and isinstance(percentiles.get("Histogram log format"), dict):
        encoded = percentiles["Histogram log format"].get("Compressed Histogram")
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        return histogram.decode(encoded)
    except ValueError:
        return None


def spectrum_axis(most: int) -> list[float]:
    """1/(1-q) values from 1 (q = 0) up to the largest count among the histograms: past
    1/(1-q) = count the percentile is the maximum, so the curve would only be flat."""
    top = min(SPECTRUM_MAX_DECADES, math.log10(max(most, 2)))
    steps = int(top * SPECTRUM_STEPS_PER_DECADE)
    return [round(10 ** (k / SPECTRUM_STEPS_PER_DECADE), 4) for k in range(steps + 1)]


def spectrum_values(counts: dict, axis: list[float]) -> list[float | None]:
    """Latency in ms at each 1/(1-q) of the axis, up to where the histogram's count
    still tells percentiles apart."""
    summary = histogram.Summary(counts)
    if not summary.total:
        return [None] * len(axis)
    return [round(summary.percentile(100.0 * (1 - 1 / x)) / 1000.0, 3) if x <= summary.total * 1.0001 else None
            for x in axis]


def spectra(histograms: dict[str, dict]) -> tuple[list[float], list[dict]]:
    """(axis, one series per named histogram) on a shared axis."""
    most = max((sum(counts.values()) for counts in histograms.values()), default=0)
    axis = spectrum_axis(most)
    return axis, [{"label": label, "values": spectrum_values(counts, axis)} for label, counts in histograms.items()]
