"""The result file: written atomically (temporary file, then rename), also on failure.

This holds the "harness" block; the metrics issue adds memtier_benchmark's layout
("configuration", "run information", "ALL STATS") beside it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import tempfile

from harness import histogram
from harness.stats import CommandStats, PubSubStats


# Reads whose null reply is a miss, for the hit rate.
READ_COMMANDS = frozenset({"GET", "HGET", "ZSCORE", "LINDEX", "GETEX", "HMGET"})


def command_block(stats: CommandStats, name: str) -> dict:
    block = {"count": stats.count_of(name), "errors": stats.errors_of(name),
             "indeterminate": stats.indeterminate_of(name)}
    by_type = {kind: n for (command, kind), n in sorted(stats.errors.items()) if command == name and n}
    if by_type:
        block["errors_by_type"] = by_type
    if name in READ_COMMANDS and stats.ok[name]:
        block["hit_rate"] = round(1 - stats.nulls[name] / stats.ok[name], 6)
    block["latency"] = histogram.summary_ms(stats.latency_of(name))
    if name in stats.service:  # from the write to the reply: latency less queueing behind the schedule
        block["service_time"] = histogram.summary_ms(stats.service[name])
    return block


def harness_block(stats: CommandStats, elapsed: float, status: int, reason: str) -> dict:
    commands = {name: command_block(stats, name) for name in stats.commands()}
    return {
        "commands": commands,
        "totals": {
            "count": stats.total,
            "errors": stats.total_errors,
            "errors_by_type": stats.errors_by_type(),
            # Written on a connection that failed before the reply: the server may or
            # may not have run them.
            "indeterminate": stats.total_indeterminate,
            "indeterminate_by_cause": stats.indeterminate_by_type(),
            "ops_per_sec": round(stats.total / elapsed, 3) if elapsed > 0 else 0.0,
            "seconds": round(elapsed, 3),
            "batches": stats.batches,
            "latency": histogram.summary_ms(stats.all_latency()),
        },
        "exit": {"status": int(status), "reason": reason},
    }


def cluster_block(stats: CommandStats) -> dict:
    """Operations answered by each master, with shares, and the redirections followed."""
    total = max(1, sum(stats.nodes.values()))
    return {
        "nodes": {node: {"count": n, "share": round(n / total, 4)} for node, n in sorted(stats.nodes.items())},
        "redirections": {"MOVED": stats.redirections["MOVED"], "ASK": stats.redirections["ASK"]},
    }


def write_result(path: str, document: dict) -> None:
    """The result document to `path`, or to standard output when path is `-`."""
    if path == "-":
        json.dump(document, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    write_json_atomic(path, document)


def write_json_atomic(path: str, document: dict) -> None:
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: str, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path` only when
    `path` is absent or a regular file: a device (/dev/null), FIFO or directory at the
    path is never replaced (pre-flight refuses those; this holds if one appears later)."""
    _refuse_special(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".harness-result-", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; a result file is not
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        _refuse_special(path)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _refuse_special(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise OSError(errno.EEXIST, "it exists and is not a regular file, so it is left as it is")


def pubsub_block(pubsub: PubSubStats, measured: CommandStats, warmup: CommandStats, subscribers: int) -> dict:
    """Deliveries against what should have arrived: every published message (warmup
    included, since subscribers cannot tell) times every subscriber connection."""
    published = measured.ok["PUBLISH"] + warmup.ok["PUBLISH"]
    expected = published * subscribers
    return {
        "published": published,
        "subscribers": subscribers,
        "expected": expected,
        "received": pubsub.received,
        "lost": expected - pubsub.received,
        "out_of_order": pubsub.out_of_order,
        "resubscribes": pubsub.resubscribes,
        "latency": histogram.summary_ms(pubsub.latency),
    }


# --- memtier_benchmark's --json-out-file layout ----------------------------------------

MEMTIER_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)


def memtier_block(count: int, ok: int, nulls: int, counts: dict, bytes_sent: int, seconds: float,
                  series: dict, read: bool) -> dict:
    """One command's (or the totals') block as memtier writes it; latency in ms."""
    summary = histogram.Summary(counts)
    per_second = (lambda n: round(n / seconds, 2)) if seconds > 0 else (lambda n: 0.0)
    block = {
        "Count": count,
        "Ops/sec": per_second(count),
        "Hits/sec": per_second(ok - nulls) if read else 0.0,
        "Misses/sec": per_second(nulls) if read else 0.0,
        "Latency": round(summary.mean() / 1000, 3),
        "Average Latency": round(summary.mean() / 1000, 3),
        "Min Latency": summary.min() / 1000,
        "Max Latency": summary.max() / 1000,
        "KB/sec": round(bytes_sent / 1024 / seconds, 2) if seconds > 0 else 0.0,
    }
    percentiles = {f"p{p:.3f}": summary.percentile(p) / 1000 if summary.total else 0.0
                   for p in MEMTIER_PERCENTILES}
    percentiles["Histogram log format"] = {"Compressed Histogram": histogram.encode(histogram.to_hdr(counts))}
    block["Percentile Latencies"] = percentiles
    block["Time-Serie"] = series
    return block


def time_serie(series: dict, command: str | None) -> dict:
    """{"<second>": {Count, Average/Min/Max Latency, p50/p99/p99.9}} for one command (None: all)."""
    out = {}
    for second, point in sorted(series.items()):
        summary = point.summary(command)
        entry = {"Count": point.count(command)}
        if summary.total:
            entry.update({
                "Average Latency": round(summary.mean() / 1000, 3),
                "Min Latency": summary.min() / 1000,
                "Max Latency": summary.max() / 1000,
                "p50.00": summary.percentile(50) / 1000,
                "p99.00": summary.percentile(99) / 1000,
                "p99.90": summary.percentile(99.9) / 1000,
            })
        service = point.summary(command, service=True)
        if service.total:  # a paced run: the server's part of the latency, second by second
            entry["Service p50.00"] = service.percentile(50) / 1000
            entry["Service p99.00"] = service.percentile(99) / 1000
        if command is None and point.redirections:
            entry["Redirections"] = dict(point.redirections)
        if command is None and point.nodes:
            entry["Nodes"] = dict(sorted(point.nodes.items()))
        out[str(second)] = entry
    return out


def all_stats(stats: CommandStats, seconds: float, series: dict, runtime: dict) -> dict:
    blocks = {"Runtime": runtime}
    for name in stats.commands():
        blocks[name] = memtier_block(
            stats.count_of(name), stats.ok[name], stats.nulls[name], stats.latency_of(name),
            stats.bytes_sent[name], seconds, time_serie(series, name), name in READ_COMMANDS,
        )
    reads_ok = sum(stats.ok[name] for name in READ_COMMANDS)
    reads_null = sum(stats.nulls[name] for name in READ_COMMANDS)
    blocks["Totals"] = memtier_block(
        stats.total, reads_ok, reads_null, stats.all_latency(), sum(stats.bytes_sent.values()),
        seconds, time_serie(series, None), bool(reads_ok),
    )
    return blocks
