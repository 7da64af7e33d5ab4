"""The keys a run owns: its prefix, and deleting exactly those keys at the end.

The harness never runs FLUSHDB or FLUSHALL and never touches a key outside its prefix:
cleanup walks SCAN MATCH <prefix>* (glob characters escaped) and UNLINKs what it finds,
in batches, after checking each name itself (a server that reads the pattern otherwise
must still not make the harness delete a stranger's key). Before a run,
`existing_keys` says whether the prefix already holds keys: a prefix is owned by the run
or refused by the coordinator.
"""

from __future__ import annotations

import re
import time

import redis
from redis.cluster import RedisCluster

DEFAULT_PREFIX_ROOT = "harness:"
SCAN_COUNT = 1000

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


def run_prefix(configured: str, run_id: str) -> str:
    return configured or f"{DEFAULT_PREFIX_ROOT}{run_id}:"


def escape_glob(text: str) -> str:
    """`text` as a glob pattern that matches only itself (\\ * ? [ ] escaped)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def match_pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for keys that start with `prefix`, glob characters escaped."""
    return escape_glob(prefix) + "*"


def _each_master(client) -> list:
    """The clients to SCAN: every master of a cluster, else the client itself."""
    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def count_keys(client, prefix: str, time_limit: float = 5.0) -> tuple[int, bool]:
    """(keys under prefix, complete?) by SCAN (on every master of a cluster); stops
    early after time_limit seconds."""
    deadline = time.monotonic() + time_limit
    total = 0
    for node in _each_master(client):
        found, complete = _count_on(node, prefix, deadline)
        total += found
        if not complete:
            return total, False
    return total, True


def _count_on(client: redis.Redis, prefix: str, deadline: float) -> tuple[int, bool]:
    cursor, total = 0, 0
    while True:
        cursor, keys = client.scan(cursor, match=match_pattern(prefix), count=SCAN_COUNT)
        total += len(_under(keys, prefix.encode()))
        if cursor == 0:
            return total, True
        if time.monotonic() > deadline:
            return total, False


def existing_keys(client, prefix: str, enough: int = 3, time_limit: float = 5.0) -> tuple[int, bytes | None, bool]:
    """(keys found under prefix, one of them, whether the whole keyspace was looked at)
    by SCAN on every master, stopping once `enough` are found or after time_limit
    seconds: a refusal needs "at least N", not a count of a large keyspace."""
    deadline = time.monotonic() + time_limit
    found: list[bytes] = []
    for node in _each_master(client):
        cursor = 0
        while True:
            cursor, keys = node.scan(cursor, match=match_pattern(prefix), count=SCAN_COUNT)
            found += _under(keys, prefix.encode())
            if cursor == 0 or len(found) >= enough or time.monotonic() > deadline:
                break
        if len(found) >= enough or time.monotonic() > deadline:
            return len(found), (found[0] if found else None), False
    return len(found), (found[0] if found else None), True


def _under(keys: list, prefix: bytes) -> list[bytes]:
    """The names that really start with prefix (SCAN's reply, checked again here)."""
    names = [key if isinstance(key, bytes) else str(key).encode() for key in keys]
    return [name for name in names if name.startswith(prefix)]


def delete_keys(client, prefix: str) -> int:
    """UNLINK every key under prefix (on every master of a cluster); returns how many
    the servers removed."""
    if not prefix:
        raise ValueError("refusing to delete keys with an empty prefix")
    cluster = isinstance(client, RedisCluster)
    removed = 0
    for node in _each_master(client):
        cursor = 0
        while True:
            cursor, keys = node.scan(cursor, match=match_pattern(prefix), count=SCAN_COUNT)
            keys = _under(keys, prefix.encode())
            if keys and cluster:  # keys of one node may sit in different slots: one UNLINK each
                pipe = node.pipeline(transaction=False)
                for name in keys:
                    pipe.unlink(name)
                removed += sum(pipe.execute())
            elif keys:
                removed += node.unlink(*keys)
            if cursor == 0:
                break
    return removed
