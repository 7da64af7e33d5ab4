"""One result file read back for `harness merge`: the harness's own or memtier_benchmark's.

read_part(document, name) -> Part: the counts as a CommandStats (without latency), the
full latency histograms decoded (whatever their layout: memtier's start at 10 us), the
measured span on the wall clock, and the per-second points with their absolute time.
A document that is not a result file is a ConfigError naming the file and what is
missing: never a traceback. Runs in the process that merges (the CLI, or the Dask
coordinator); pure apart from decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from harness import histogram
from harness.errors import ConfigError
from harness.series import MAGNITUDE as SERIES_MAGNITUDE
from harness.stats import CommandStats

TOOL = "redis-harness"
MEMTIER = "memtier_benchmark"


@dataclass
class Point:
    """One command's Time-Serie point: its absolute time (ms since the epoch, the start
    of its span), count and latency at the series layout ({} when the file has none)."""

    time_ms: int
    command: str
    count: int
    latency: dict


@dataclass
class Part:
    name: str
    tool: str
    run_id: str | None
    configuration: dict
    stats: CommandStats  # counts only: latency is merged from `histograms`
    histograms: dict  # command -> HdrHistogram, as the file holds it
    start_ms: int
    duration_ms: int
    step: int  # seconds per Time-Serie point
    points: list = field(default_factory=list)
    targets: dict = field(default_factory=dict)  # Totals point time_ms -> Target Count
    harness: dict = field(default_factory=dict)  # the file's "harness" block ({} for memtier's)


class NotAResult(ValueError):
    pass


def read_part(document, name: str) -> Part:
    try:
        return _read(document, name)
    except NotAResult as exc:
        raise ConfigError(f"{name} is not a result file: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{name} is not a result file the harness can read ({type(exc).__name__}: {exc})") from None


def _read(document, name: str) -> Part:
    if not isinstance(document, dict):
        raise NotAResult("its top level is not a JSON object")
    stats = document.get("ALL STATS")
    if not isinstance(stats, dict) or not isinstance(stats.get("Totals"), dict):
        raise NotAResult('it has no "ALL STATS" section with "Totals"')
    runtime = stats.get("Runtime", {})
    start_ms, duration_ms = int(runtime["Start time"]), int(runtime["Total duration"])
    own = isinstance(document.get("harness"), dict) and "commands" in document["harness"]
    blocks = {_command(block_name, own): block for block_name, block in stats.items()
              if block_name not in ("Runtime", "Totals") and isinstance(block, dict) and "Count" in block}
    part = Part(name=name, tool=TOOL if own else MEMTIER,
                run_id=document["harness"].get("run", {}).get("run_id") if own else None,
                configuration=document.get("configuration") or {}, stats=CommandStats(), histograms={},
                start_ms=start_ms, duration_ms=duration_ms, step=int(runtime.get("Time-Serie step", 1)),
                harness=document["harness"] if own else {})
    for command, block in blocks.items():
        text = block["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"]
        try:
            part.histograms[command] = histogram.decode(text)
        except ValueError as exc:
            raise NotAResult(f"{command}'s histogram: {exc}") from None
        _read_points(part, command, block.get("Time-Serie") or {})
    if own:
        _read_harness_counts(part, document["harness"])
    else:
        _read_memtier_counts(part, blocks)
    for entry_key, entry in (stats["Totals"].get("Time-Serie") or {}).items():
        if "Target Count" in entry:
            part.targets[_time_of(part, entry_key, entry)] = int(entry["Target Count"])
    return part


def _command(block_name: str, own: bool) -> str:
    """The command a block counts: the harness names it; memtier writes "Gets", "Sets",
    "Waits" and, for --command, the command capitalised with an s."""
    if own:
        return block_name
    return (block_name[:-1] if block_name.endswith("s") else block_name).upper()


def _time_of(part: Part, key: str, entry: dict) -> int:
    """A point's absolute time: its own "Time", or (memtier's, older files) the start
    plus its key in seconds."""
    return int(entry["Time"]) if "Time" in entry else part.start_ms + int(key) * 1000


def _read_points(part: Part, command: str, serie: dict) -> None:
    for key, entry in serie.items():
        latency = {}
        if "Compressed Histogram" in entry:
            try:
                latency, _ = histogram.counts_of(histogram.decode(entry["Compressed Histogram"]), SERIES_MAGNITUDE)
            except ValueError as exc:
                raise NotAResult(f"{command}'s point {key}: {exc}") from None
        part.points.append(Point(_time_of(part, key, entry), command, int(entry["Count"]), latency))


def _read_harness_counts(part: Part, block: dict) -> None:
    stats = part.stats
    for command, figures in block["commands"].items():
        errors = figures.get("errors_by_type") or {}
        indeterminate = figures.get("indeterminate_by_cause") or (
            {"unknown": figures["indeterminate"]} if figures.get("indeterminate") else {})
        for kind, n in errors.items():
            stats.errors[(command, kind)] += int(n)
        for cause, n in indeterminate.items():
            stats.indeterminate[(command, cause)] += int(n)
        ok = int(figures["count"]) - sum(errors.values()) - sum(indeterminate.values())
        stats.ok[command] += ok
        stats.nulls[command] += int(figures.get("nulls", 0))
        stats.bytes_sent[command] += int(figures.get("bytes_sent", 0))
    stats.batches += int(block.get("totals", {}).get("batches", 0))
    cluster = block.get("cluster") or {}
    for node, entry in (cluster.get("nodes") or {}).items():
        stats.nodes[node] += int(entry["count"])
    for kind, n in (cluster.get("redirections") or {}).items():
        stats.redirections[kind] += int(n)


def _read_memtier_counts(part: Part, blocks: dict) -> None:
    """memtier's counts: Count per command; misses and request bytes are not in its file
    as counts, so they come from its rates times the duration (Bytes TX of its points
    when present)."""
    stats = part.stats
    seconds = part.duration_ms / 1000
    for command, block in blocks.items():
        stats.ok[command] += int(block["Count"])
        stats.nulls[command] += round(float(block.get("Misses/sec", 0)) * seconds)
        serie = block.get("Time-Serie") or {}
        if serie and all("Bytes TX" in entry for entry in serie.values()):
            stats.bytes_sent[command] += sum(int(entry["Bytes TX"]) for entry in serie.values())
        else:
            stats.bytes_sent[command] += round(float(block.get("KB/sec TX", block.get("KB/sec", 0))) * 1024 * seconds)


def layout(hdr: HdrHistogram) -> tuple[int, int, int]:
    """(lowest, highest trackable value, significant digits)."""
    return hdr.lowest_trackable_value, hdr.highest_trackable_value, hdr.significant_figures
