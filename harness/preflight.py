"""What can be checked before the load is checked before it.

Runs in the coordinator (and, for log_file, in cli before logging starts), before the
target is touched and before any fork. Each refusal is a ConfigError: one line naming
the key, where it came from and what is wrong, exit status 2, nothing sent.

- output, csv and log_file: absent or a regular file (a device, a FIFO or a directory is
  never replaced), in a directory where this process can create a file, with room;
- the memory the client processes prepare (key names, values, the zipfian table, the
  batch being encoded) against the memory the machine has available.
The Prometheus port is bound here too (metrics.bind_listener) so a port in use fails
the run now, not after the load.
"""

from __future__ import annotations

import math
import os
import stat
import tempfile

from harness.errors import ConfigError
from harness.plural import plural

STDOUT = "-"  # output = - writes the result document to standard output

# What the client processes keep in memory (see workloads/keys.py, values.py, base.py):
# encoded key names per process and key family, each whole up to WHOLE_NAMES keys, above
# that two tables of about sqrt(keyspace) entries (leading and trailing digits); each size choice of
# value_size keeps one value (a fixed size) or VALUES_PER_CHOICE (a range) per thread;
# each thread holds a block of drawn batches (BLOCK_BYTES, or one batch if bigger, with
# each command once and the batch joined once more); the zipfian distribution builds
# one cumulative table of 8 bytes per key per process; list_operations keeps a length
# per list (a numpy array over each thread's share of the keyspace).
BYTES_OVERHEAD = 33 + 8 + 8  # a bytes object's header, its slot in a table, its length
ZIPF_BYTES_PER_KEY = 8
LIST_LENGTH_BYTES = 8  # at most (int32 below list_max_length 2**31)
# A result file is at most about this big (the reporter bounds its series and samples).
RESULT_FILE_MAX = 10 * 2**20
# An HTML report is a few hundred kilobytes; a day-long run's stays under 5 MiB.
REPORT_ROOM = 5 * 2**20


def size_text(count: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} bytes"


def check_output(config) -> None:
    if config.output and config.output != STDOUT:
        check_writable_file(config.output, "output", config.source("output"), result_size_bound(config))
    if config.csv:
        where = f"csv = {config.csv} ({config.source('csv')})"
        if config.csv == STDOUT:
            raise ConfigError(f"{where}: name a file; standard output carries the summary")
        if config.output and os.path.abspath(config.csv) == os.path.abspath(config.output):
            raise ConfigError(f"{where} is also output ({config.source('output')}): give each its own file")
        # the CSV holds the same points as the result file's series, in fewer bytes
        check_writable_file(config.csv, "csv", config.source("csv"), result_size_bound(config))
    if config.report:
        check_report(config)


def check_report(config) -> None:
    """The HTML report is made from the result file once the run ends: it needs one on
    disk, and a path of its own."""
    where = f"report = {config.report} ({config.source('report')})"
    if config.report == STDOUT:
        raise ConfigError(f"{where}: name a file; standard output carries the summary")
    if config.output == STDOUT:
        raise ConfigError(f"{where} is made from the result file, but output = - ({config.source('output')}) "
                          "writes none: name a result file too")
    for other in ("output", "csv"):
        path = getattr(config, other)
        if path and os.path.abspath(path) == os.path.abspath(config.report):
            raise ConfigError(f"{where} is also {other} ({config.source(other)}): give each its own file")
    check_writable_file(config.report, "report", config.source("report"), REPORT_ROOM)


def result_size_bound(config) -> int:
    """A generous estimate of the result file's size: a base, the per-second series
    (at most 3,600 points per command) and the per-interval samples (at most 1,000)."""
    seconds = config.duration or 86400
    points = min(math.ceil(seconds), 3600)
    samples = min(math.ceil(seconds / config.stats_interval), 1000)
    return min(RESULT_FILE_MAX, 64 * 2**10 + points * 250 * 8 + samples * 1024)


def check_writable_file(path: str, key: str, source: str, need: int) -> None:
    """`path` is absent or a regular file, its directory takes a new file, and the
    filesystem has `need` bytes free. Raises ConfigError."""
    where = f"{key} = {path} ({source})"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{where} is a directory: name a file in it")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where} is a {_kind(info.st_mode)}, not a regular file: the harness "
                          "writes only to a regular file or a new path, and never replaces anything else")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"{where}: the directory {directory} does not exist")
    try:  # the one honest test of "can create a file here": create one
        fd, probe = tempfile.mkstemp(prefix=".harness-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot create a file in {directory}: {exc.strerror}") from None
    fs = os.statvfs(directory)
    free = fs.f_bavail * fs.f_frsize
    if free < need:
        raise ConfigError(f"{where}: {directory} has {size_text(free)} free, and this needs up to "
                          f"{size_text(need)}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def memory_needed(config, plan, prefix_length: int) -> dict[str, int]:
    """Bytes the client processes prepare, by part, summed over all processes."""
    from workloads.base import BLOCK_BYTES
    from workloads.keys import name_layout
    from workloads.values import VALUES_PER_CHOICE

    threads, processes = plan.threads_per_process, plan.processes
    keyspace = config.keyspace
    digits = len(str(max(0, keyspace - 1)))
    name_bytes = BYTES_OVERHEAD + prefix_length + digits + 8  # "$len\r\n" "\r\n"
    radix, tail = name_layout(keyspace)
    names = keyspace * name_bytes
    if tail:  # keys below the radix whole, then leading and trailing digits
        names = (radix + (keyspace - 1) // radix + 1) * name_bytes + radix * (BYTES_OVERHEAD + tail + 2)
    value_bytes = 0
    for choice in config.value_size:
        count = 1 if choice.low == choice.high else VALUES_PER_CHOICE
        value_bytes += count * (BYTES_OVERHEAD + (choice.low + choice.high) // 2)
    largest = max(choice.high for choice in config.value_size)
    batch = config.pipeline * (largest + prefix_length + 64)
    blocks = 2 * max(BLOCK_BYTES, batch)  # each command, and the batches joined
    zipf = config.keyspace * ZIPF_BYTES_PER_KEY if config.key_distribution == "zipfian" else 0
    lists = config.keyspace * LIST_LENGTH_BYTES if config.workload == "list_operations" else 0
    return {
        "key names": processes * key_families(config) * names,
        "values": processes * threads * value_bytes,
        "batches being encoded": processes * threads * blocks,
        "zipfian table": processes * zipf,
        "list lengths": lists,
    }


def key_families(config) -> int:
    """How many key families (prefix + family + number) a workload names."""
    if config.workload in ("basic_rw", "pipeline"):
        return 2  # counters for INCR live apart
    if config.workload == "custom":
        import re

        return max(1, len({match for template in config.commands
                           for match in re.findall(r"\{key(?::([^{}]*))?\}", " ".join(template.words))}))
    return 1


def check_memory(config, plan, prefix_length: int, available: int | None = None) -> None:
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    parts = memory_needed(config, plan, prefix_length)
    total = sum(parts.values())
    if total <= available:
        return
    biggest = max(parts, key=parts.get)
    raise ConfigError(
        f"the client processes would need about {size_text(total)} of memory ({biggest}: "
        f"{size_text(parts[biggest])}, over {plural(plan.processes, 'process')} x {plural(plan.threads_per_process, 'thread')}) "
        f"and {size_text(available)} is available: lower value_size ({config.source('value_size')}), "
        f"keyspace ({config.source('keyspace')}), threads_per_client or client_instances"
    )
