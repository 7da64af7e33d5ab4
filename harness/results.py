"""The result file: written atomically (temporary file, then rename), also on failure.

This holds the "harness" block; the metrics issue adds memtier_benchmark's layout
("configuration", "run information", "ALL STATS") beside it.
"""

from __future__ import annotations

import json
import os
import tempfile

from harness.stats import CommandStats


def harness_block(stats: CommandStats, elapsed: float, status: int, reason: str) -> dict:
    commands = {
        name: {"count": stats.count_of(name), "errors": stats.errors_of(name)}
        for name in stats.commands()
    }
    errors_by_type: dict[str, int] = {}
    for (_, kind), count in stats.errors.items():
        errors_by_type[kind] = errors_by_type.get(kind, 0) + count
    return {
        "commands": commands,
        "totals": {
            "count": stats.total,
            "errors": stats.total_errors,
            "errors_by_type": errors_by_type,
            "ops_per_sec": round(stats.total / elapsed, 3) if elapsed > 0 else 0.0,
            "seconds": round(elapsed, 3),
        },
        "exit": {"status": int(status), "reason": reason},
    }


def write_json_atomic(path: str, document: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".harness-result-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
