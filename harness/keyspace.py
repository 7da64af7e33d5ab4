"""The keys a run owns: its prefix, and deleting exactly those keys at the end.

The harness never runs FLUSHDB or FLUSHALL and never touches a key outside its prefix:
cleanup walks SCAN MATCH <prefix>* and UNLINKs what it finds, in batches.
"""

from __future__ import annotations

import re
import time

import redis

DEFAULT_PREFIX_ROOT = "harness:"
SCAN_COUNT = 1000

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


def run_prefix(configured: str, run_id: str) -> str:
    return configured or f"{DEFAULT_PREFIX_ROOT}{run_id}:"


def match_pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for keys that start with `prefix`, glob characters escaped."""
    return _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"


def count_keys(client: redis.Redis, prefix: str, time_limit: float = 5.0) -> tuple[int, bool]:
    """(keys under prefix, complete?) by SCAN; stops early after time_limit seconds."""
    deadline = time.monotonic() + time_limit
    cursor, total = 0, 0
    while True:
        cursor, keys = client.scan(cursor, match=match_pattern(prefix), count=SCAN_COUNT)
        total += len(keys)
        if cursor == 0:
            return total, True
        if time.monotonic() > deadline:
            return total, False


def delete_keys(client: redis.Redis, prefix: str) -> int:
    """UNLINK every key under prefix; returns how many the server removed."""
    if not prefix:
        raise ValueError("refusing to delete keys with an empty prefix")
    cursor, removed = 0, 0
    while True:
        cursor, keys = client.scan(cursor, match=match_pattern(prefix), count=SCAN_COUNT)
        if keys:
            removed += client.unlink(*keys)
        if cursor == 0:
            return removed
