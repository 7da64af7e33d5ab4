"""memtier_benchmark result files for the merge and report tests, built as memtier writes them.

There is no memtier_benchmark binary here (not in Debian bookworm, not on PyPI), so the
files are made the way its run_stats.cpp writes --json-out-file: "Runtime" (Start time,
Finish time, Total duration in ms, Time unit, Interrupted), a block per command ("Sets",
"Gets", "Waits") and "Totals", each with Count, the rates, latencies in ms, a "Time-Serie" keyed
by the second from the start (Bytes RX/TX, Count, latency figures, no histogram) and
"Percentile Latencies" with "Histogram log format" -> "Compressed Histogram": the
standard compressed HdrHistogram of microseconds in memtier's layout
(run_stats_types.h: LATENCY_HDR_MIN_VALUE 10, LATENCY_HDR_MAX_VALUE 60000000,
LATENCY_HDR_SIGDIGTS 3; values divided by LATENCY_HDR_RESULTS_MULTIPLIER 1000 for ms).
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

MEMTIER_LAYOUT = (10, 60_000_000, 3)
BLOCK_NAMES = {"SET": "Sets", "GET": "Gets", "WAIT": "Waits"}  # memtier always writes the three
REQUEST_BYTES = {"SET": 60, "GET": 40, "WAIT": 0}


def _figures(hdr: HdrHistogram, count: int, seconds: float, misses: int, kb_tx: float) -> dict:
    has = hdr.get_total_count() > 0
    return {
        "Count": count,
        "Ops/sec": round(count / seconds, 2),
        "Hits/sec": round((count - misses) / seconds, 2) if misses else 0.0,
        "Misses/sec": round(misses / seconds, 2),
        "MOVED/sec": 0.0, "ASK/sec": 0.0, "Connection Errors/sec": 0.0, "Connection Errors": 0,
        "Latency": round(hdr.get_mean_value() / 1000, 3) if has else 0.0,
        "Average Latency": round(hdr.get_mean_value() / 1000, 3) if has else 0.0,
        "Min Latency": hdr.get_min_value() / 1000 if has else 0.0,
        "Max Latency": hdr.get_max_value() / 1000 if has else 0.0,
        "KB/sec": round(kb_tx, 2), "KB/sec RX/TX": round(kb_tx, 2), "KB/sec RX": 0.0, "KB/sec TX": round(kb_tx, 2),
    }


def memtier_document(start_ms: int, seconds: list[dict], layout=MEMTIER_LAYOUT, out_file="memtier.json", test_time=5,
                     misses: dict | None = None) -> dict:
    """`seconds`: one {command: [latency in us, ...]} per second of the run."""
    duration_ms = len(seconds) * 1000
    stats = {"Runtime": {"Start time": start_ms, "Finish time": start_ms + duration_ms,
                         "Total duration": duration_ms, "Time unit": "MILLISECONDS", "Interrupted": "false"}}
    totals = HdrHistogram(*layout)
    total_count, total_bytes = 0, 0
    for command, name in BLOCK_NAMES.items():
        hdr = HdrHistogram(*layout)
        serie = {}
        for second, values in enumerate(seconds):
            mine = values.get(command, [])
            for value in mine:
                hdr.record_value(value)
                totals.record_value(value)
            serie[str(second)] = _point(mine, len(mine) * REQUEST_BYTES[command])
        count = sum(len(values.get(command, [])) for values in seconds)
        sent = count * REQUEST_BYTES[command]
        miss = (misses or {}).get(command, 0)
        block = _figures(hdr, count, duration_ms / 1000, miss, sent / 1024 / (duration_ms / 1000))
        block["Time-Serie"] = serie
        block["Percentile Latencies"] = _percentiles(hdr)
        stats[name] = block
        total_count += count
        total_bytes += sent
    block = _figures(totals, total_count, duration_ms / 1000, 0, total_bytes / 1024 / (duration_ms / 1000))
    # The Totals' points are written as every command's are (result_print_to_json).
    block["Time-Serie"] = {str(second): _point([v for command in BLOCK_NAMES for v in values.get(command, [])],
                                               sum(len(values.get(c, [])) * REQUEST_BYTES[c] for c in BLOCK_NAMES))
                           for second, values in enumerate(seconds)}
    block["Percentile Latencies"] = _percentiles(totals)
    stats["Totals"] = block
    return {
        "configuration": {"server": "127.0.0.1", "port": 6379, "protocol": "redis", "clients": 50, "threads": 4,
                          "test_time": test_time, "ratio": "1:10", "data_size": 32, "pipeline": 1,
                          "json_out_file": out_file},
        "run information": {"Tool": "memtier_benchmark", "Tool Version": "2.1.0"},
        "ALL STATS": stats,
    }


def _point(values: list[int], bytes_tx: int) -> dict:
    """One second of a Time-Serie; latency figures only for a second with operations."""
    entry = {"Bytes RX": 0, "Bytes TX": bytes_tx, "Count": len(values)}
    if values:
        point = HdrHistogram(10, 1_000_000, 2)  # memtier's per-second layout (LATENCY_HDR_SEC_*)
        for value in values:
            point.record_value(min(value, 1_000_000))
        entry.update({"Average Latency": round(sum(values) / len(values) / 1000, 3),
                      "Accumulated Latency": sum(values) // 1000,
                      "Min Latency": min(values) / 1000, "Max Latency": max(values) / 1000,
                      **{key: point.get_value_at_percentile(p) / 1000
                         for key, p in (("p50.00", 50), ("p99.00", 99), ("p99.90", 99.9))}})
    return entry


def _percentiles(hdr: HdrHistogram) -> dict:
    block = {f"p{p:.3f}": hdr.get_value_at_percentile(p) / 1000 for p in (50.0, 99.0, 99.9, 100.0)}
    encoded = hdr.encode()
    text = encoded.decode() if isinstance(encoded, bytes) else encoded
    block["Histogram log format"] = {"Compressed Histogram": text}
    return block
