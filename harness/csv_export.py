"""--csv FILE: the run's figures as one CSV table for spreadsheets.

One header, then rows of two scopes: `run` (one per command and TOTAL, the result
file's "harness" figures) and `second` (one per command and TOTAL per time-series
point, the result file's "Time-Serie"; `second` is the point's first second and
`seconds` how many it covers, more than 1 once a long run's series is coarsened).
Both come from the same functions as the JSON, so the two files agree.
"""

from __future__ import annotations

import csv
import io

from harness.results import command_block, harness_block, time_serie, write_text_atomic

COLUMNS = ["scope", "second", "seconds", "command", "count", "ops_per_sec", "errors", "indeterminate",
           "hit_rate", "avg_ms", "p50_ms", "p99_ms", "p99.9_ms", "max_ms"]


def rows(stats, seconds: float, series: dict, step: int) -> list[dict]:
    out = []
    totals = harness_block(stats, seconds, 0, "")["totals"]
    for name in stats.commands() + [None]:
        block = command_block(stats, name) if name else totals
        latency = block["latency"]
        count = block["count"]
        out.append({
            "scope": "run", "second": "", "seconds": round(seconds, 3), "command": name or "TOTAL",
            "count": count, "ops_per_sec": round(count / seconds, 3) if seconds > 0 else 0.0,
            "errors": block["errors"], "indeterminate": block["indeterminate"],
            "hit_rate": block.get("hit_rate", ""), "avg_ms": latency.get("mean_ms", ""),
            "p50_ms": latency.get("p50_ms", ""), "p99_ms": latency.get("p99_ms", ""),
            "p99.9_ms": latency.get("p99.9_ms", ""), "max_ms": latency.get("max_ms", ""),
        })
    for name in stats.commands() + [None]:
        for second, entry in time_serie(series, name).items():
            out.append({
                "scope": "second", "second": second, "seconds": step, "command": name or "TOTAL",
                "count": entry["Count"], "ops_per_sec": round(entry["Count"] / step, 3),
                "errors": "", "indeterminate": "", "hit_rate": "",
                "avg_ms": entry.get("Average Latency", ""), "p50_ms": entry.get("p50.00", ""),
                "p99_ms": entry.get("p99.00", ""), "p99.9_ms": entry.get("p99.90", ""),
                "max_ms": entry.get("Max Latency", ""),
            })
    return out


def write_csv(path: str, stats, seconds: float, series: dict, step: int) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(stats, seconds, series, step))
    write_text_atomic(path, buffer.getvalue())
