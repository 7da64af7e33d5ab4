"""The start barrier of a run: when the load starts, once every connection is open.

Runs in the coordinator, after every client process has said it is connected (and,
on shard 0, preloaded). Nothing of it goes through the Redis under test:
- no start_at: the load starts at once;
- start_at = an instant (epoch seconds, or ISO-8601 read by the parser): the load
  starts then, on every shard that shares it; a shard that is ready only after it is
  late, and fails (`late`);
- start_at = stdin: the coordinator prints `harness-ready` on standard output (one
  line, flushed) and reads one line from standard input holding the instant as epoch
  seconds. Whoever starts the shards (Dask's coordinator) releases them all together.
  The same one knows when every shard has ended, so shard 0 of a sharded run asks it
  before cleaning up: it prints `harness-cleanup` and cleans up only when the line
  it reads back is `cleanup` (anything else, standard input closing, or no answer
  within CLEANUP_WAIT leaves the run's keys in place).

Instants are wall-clock (time.time(), so hosts must agree through NTP); the clients
are given the same instant on the monotonic clock they time everything with.
"""

from __future__ import annotations

import datetime
import os
import select
import sys
import time

from harness.errors import HarnessError
from harness.parsers import START_FROM_STDIN

READY_LINE = "harness-ready"
CLEANUP_LINE = "harness-cleanup"
CLEANUP_GO = "cleanup"
# How long shard 0 waits to be told that every shard has ended, in seconds.
CLEANUP_WAIT = 600.0
# A start closer than this when everything is ready counts as missed: the clients poll
# for the start every 2 ms and need a moment to sleep until it.
MIN_LEAD = 0.01
MAX_LINE = 256


def monotonic_of(epoch: float) -> float:
    """The monotonic time of a wall-clock instant."""
    return time.monotonic() + (epoch - time.time())


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds")


def ready_deadline(config) -> float:
    """The monotonic time by which every client must be ready (inf: no such bound)."""
    if isinstance(config.start_at, float):
        return monotonic_of(config.start_at) - MIN_LEAD
    return float("inf")


def late(config, who: str, ready: int, processes: int) -> str:
    """The line of a shard that was not ready at start_at."""
    return (f"{who} was not ready by start_at {iso(config.start_at)} ({ready} of {processes} client processes "
            f"connected and prepared): it is late and does not run; start it earlier or choose a later start_at")


def start_instant(config, should_stop, out=None, stdin_fd: int | None = None) -> float | None:
    """The epoch instant the load starts at once everything is ready; None: now.
    Raises HarnessError when the instant is already past or standard input does not
    give one; returns None early when `should_stop()` turns true while reading."""
    if config.start_at is None:
        return None
    if config.start_at == START_FROM_STDIN:
        instant = read_start_line(out or sys.stdout, sys.stdin.fileno() if stdin_fd is None else stdin_fd,
                                  should_stop)
        if instant is None:
            return None
        source = "the start instant read from standard input"
    else:
        instant, source = config.start_at, f"start_at ({config.source('start_at')})"
    behind = time.time() - instant
    if behind > -MIN_LEAD:
        raise HarnessError(f"{source}, {iso(instant)}, was already past when every connection was ready "
                           f"(by {max(behind, 0.0):.3f} s): it is late and does not run")
    return instant


def cleanup_released(out, fd: int) -> bool:
    """Shard 0's load is over: print CLEANUP_LINE and read whether every shard has ended."""
    print(CLEANUP_LINE, file=out, flush=True)
    deadline = time.monotonic() + CLEANUP_WAIT
    return read_line(fd, lambda: time.monotonic() > deadline) == CLEANUP_GO


def read_line(fd: int, should_stop) -> str | None:
    """One line from `fd` (at most MAX_LINE bytes), stripped; None when `fd` closed
    before any byte came or `should_stop()` turned true first."""
    data = b""
    while b"\n" not in data and len(data) <= MAX_LINE:
        if should_stop():
            return None
        readable, _, _ = select.select([fd], [], [], 0.2)
        if not readable:
            continue
        chunk = os.read(fd, MAX_LINE)
        if not chunk:
            if not data:
                return None
            break  # a last line without its newline
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace").strip()


def read_start_line(out, fd: int, should_stop) -> float | None:
    """Print READY_LINE, then read one line of epoch seconds from `fd`."""
    print(READY_LINE, file=out, flush=True)
    line = read_line(fd, should_stop)
    if line is None:
        if should_stop():
            return None
        raise HarnessError("start_at = stdin: standard input closed before it gave the start instant")
    try:
        instant = float(line)
    except ValueError:
        instant = float("nan")
    if not instant > 0 or instant == float("inf"):
        raise HarnessError(f"start_at = stdin: expected one line holding the start instant in epoch seconds, "
                           f"got {line[:40]!r}")
    return instant
