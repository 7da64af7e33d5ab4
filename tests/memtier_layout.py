"""A result file in memtier_benchmark's --json-out-file layout, built here because no
memtier_benchmark binary can be had on this machine (not in Debian bookworm, not on
PyPI). The layout follows memtier's run_stats.cpp (print_json, result_print_to_json):
"ALL STATS" holds "Runtime" and a block per command type ("Sets", "Gets", "Waits") and
"Totals", each with Count, Ops/sec, Hits/sec, Misses/sec, latencies in ms, KB/sec, a
"Time-Serie" of per-second points (Bytes RX/TX, Count, and for a second with replies
Average/Accumulated/Min/Max Latency and p50.00/p99.00/p99.90) and "Percentile
Latencies" (p50.000, ...) with "Histogram log format" -> "Compressed Histogram", the
standard HdrHistogram encoding of microseconds (as harness/histogram.py writes it).
There is no "harness" block."""

from __future__ import annotations

import random

from harness import histogram

QUANTILES = (50.0, 99.0, 99.9)


def _block(latencies_by_second: dict[int, list[int]], seconds: int, hits: float = 0.0) -> dict:
    counts: dict = {}
    serie = {}
    for second in range(seconds):
        values = latencies_by_second.get(second, [])
        point_counts: dict = {}
        for micros in values:
            histogram.record(counts, micros)
            histogram.record(point_counts, micros)
        point = {"Bytes RX": 40 * len(values), "Bytes TX": 60 * len(values), "Count": len(values)}
        if values:
            summary = histogram.Summary(point_counts)
            point.update({"Average Latency": round(summary.mean() / 1000, 3),
                          "Accumulated Latency": sum(values) // 1000,
                          "Min Latency": summary.min() / 1000, "Max Latency": summary.max() / 1000})
            point.update({f"p{q:.2f}": summary.percentile(q) / 1000 for q in QUANTILES})
        serie[str(second)] = point
    summary = histogram.Summary(counts)
    total = summary.total
    ops_sec = round(total / seconds, 2) if seconds else 0.0
    block = {
        "Count": total, "Ops/sec": ops_sec, "Hits/sec": round(ops_sec * hits, 2),
        "Misses/sec": round(ops_sec * (1 - hits), 2) if hits else 0.0,
        "Connection Errors/sec": 0.0, "Connection Errors": 0,
        "Latency": round(summary.mean() / 1000, 3), "Average Latency": round(summary.mean() / 1000, 3),
        "Accumulated Latency": 0, "Min Latency": summary.min() / 1000 if total else 0.0,
        "Max Latency": summary.max() / 1000 if total else 0.0,
        "KB/sec": 12.5, "KB/sec RX/TX": 12.5, "KB/sec RX": 5.0, "KB/sec TX": 7.5,
        "Time-Serie": serie,
    }
    percentiles = {f"p{q:.3f}": (summary.percentile(q) / 1000 if total else 0.0) for q in QUANTILES}
    percentiles["Histogram log format"] = {"Compressed Histogram": histogram.encode(histogram.to_hdr(counts))}
    block["Percentile Latencies"] = percentiles
    return block


def memtier_document(seconds: int = 10, per_second: int = 2000, seed: int = 7) -> dict:
    rng = random.Random(seed)
    sets = {s: [int(rng.lognormvariate(5.5, 0.5)) + 20 for _ in range(per_second // 10)] for s in range(seconds)}
    gets = {s: [int(rng.lognormvariate(5.3, 0.6)) + 20 for _ in range(per_second)] for s in range(seconds)}
    both = {s: sets[s] + gets[s] for s in range(seconds)}
    start = 1_700_000_000_000
    return {
        "configuration": {"server": "127.0.0.1", "port": 6380, "protocol": "redis", "clients": 50,
                          "threads": 4, "ratio": "1:10", "test_time": seconds},
        "run information": {"Connections per thread": 50, "Threads": 4, "Total Connections": 200},
        "ALL STATS": {
            "Runtime": {"Start time": start, "Finish time": start + seconds * 1000,
                        "Total duration": seconds * 1000, "Time unit": "MILLISECONDS", "Interrupted": "false"},
            "Sets": _block(sets, seconds),
            "Gets": _block(gets, seconds, hits=0.9),
            "Waits": _block({}, seconds),
            "Totals": _block(both, seconds, hits=0.9 * 10 / 11),
        },
    }
