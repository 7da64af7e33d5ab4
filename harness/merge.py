"""Exact merging of result files: the shards of one run, or memtier_benchmark's files.

    merge_documents(documents, force=False) -> dict   # one result document
    load_result(path) -> dict                         # ConfigError (one line) when unreadable

Counts add (per command: operations, errors by type, indeterminate by cause, null
replies, request bytes); latency histograms add exactly (each file's compressed
HdrHistogram decoded, whatever its layout, and recorded into the widest layout given:
lowest and highest trackable value and significant digits; a value that does not fit
is clamped into it and a note says so); the per-second points add where they fall in
the same absolute second (each point's "Time"); the measured duration is the union of
the runs' spans. Every derived figure (ops/s, percentiles, memtier's blocks) comes
from the functions that write a single run's file (results.py), so a merged file reads
like one run's, with a "shards" list in its "harness" block.

Files of different runs (different harness.run.run_id, tools or configurations) are
refused with one line unless force. Runs in the CLI's process (harness merge) or the
Dask coordinator; pure apart from reading files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from harness import __version__, histogram
from harness.compare import read_json
from harness.errors import ConfigError
from harness.merge_read import MEMTIER, TOOL, Part, layout, read_part
from harness.plural import plural
from harness.result_document import add_times
from harness.results import all_stats, cluster_block, harness_block
from harness.series import SeriesPoint
from harness.settings import KEYS_BY_NAME
from harness.stats import CommandStats

OWN_LAYOUT = (histogram.LOWEST_US, histogram.HIGHEST_US, histogram.SIGNIFICANT_DIGITS)
# Configuration keys that may differ between the shards of one run: where each writes
# its output and logs, and which shard it is.
PER_SHARD_KEYS = {"shard", "json_out_file", "out_file", "hdr_file_prefix", "client_stats"}


@dataclass
class Merged:
    document: dict
    stats: CommandStats
    seconds: float
    max_lag: float
    notes: list = field(default_factory=list)


def load_result(path: str) -> dict:
    """The JSON document of a result file; ConfigError (exit 2) with one line when the
    file cannot be read, is not JSON, or is not a result file."""
    document = read_json(path)
    read_part(document, path)  # refuses what is not a result file, naming it
    return document


def merge_documents(documents: list[dict], *, force: bool = False, names: list[str] | None = None) -> dict:
    """One result document from several (see the module's docstring). `names` (file
    names, shard labels) name the inputs in messages and in harness.shards."""
    return merge(documents, force=force, names=names).document


def merge(documents: list[dict], *, force: bool = False, names: list[str] | None = None) -> Merged:
    if not documents:
        raise ConfigError("nothing to merge: give at least one result file")
    names = list(names) if names else [f"input {i + 1}" for i in range(len(documents))]
    parts = [read_part(document, name) for document, name in zip(documents, names)]
    differences = differences_between(parts)
    if differences and not force:
        raise ConfigError(f"{differences[0]}: not results of one run (--force merges them anyway)")
    notes = [f"merged with --force although {difference}" for difference in differences]
    stats = CommandStats()
    for part in parts:
        stats.add(part.stats)
    widest, merged, clamped = merge_histograms(parts)
    for command, hdr in merged.items():
        stats.latency[command], above = histogram.counts_of(hdr)
        clamped += above
    if clamped:
        notes.append(f"{plural(clamped, 'latency value')} beyond the range of the widest layout "
                     f"(or the harness's 60 s for the figures) clamped into it")
    if any(part.tool == MEMTIER for part in parts):
        notes.append("memtier_benchmark's per-second points hold no histogram: their seconds add counts only")
    start_ms, finish_ms, span_ms = union_of(parts)
    seconds = span_ms / 1000
    step = max(part.step for part in parts)
    series, origin_ms, targets = merge_series(parts, step)
    runtime = {"Start time": start_ms, "Finish time": finish_ms, "Total duration": span_ms,
               "Time unit": "MILLISECONDS", "Time-Serie step": step}
    stats_block = all_stats(stats, seconds, series, runtime)
    add_times(stats_block, origin_ms)
    for key, count in targets.items():
        if str(key) in stats_block["Totals"]["Time-Serie"]:
            stats_block["Totals"]["Time-Serie"][str(key)]["Target Count"] = count
    if widest != OWN_LAYOUT:  # the file keeps the widest layout; the figures use the harness's
        encode_widest(stats_block, merged, widest)
    max_lag = max((float(p.harness.get("run", {}).get("max_schedule_lag_seconds", 0)) for p in parts), default=0.0)
    document = {
        "configuration": {key: value for key, value in parts[0].configuration.items() if key not in PER_SHARD_KEYS},
        "run information": dict(run_information(parts), **{"Merged results": len(parts)}),
        "ALL STATS": stats_block,
        "harness": harness_section(parts, stats, seconds, max_lag, notes, force),
    }
    return Merged(document, stats, seconds, max_lag, notes)


def differences_between(parts: list[Part]) -> list[str]:
    """What says these files are not of one run: tool, run id, configuration."""
    first, found = parts[0], []
    for part in parts[1:]:
        if part.tool != first.tool:
            found.append(f"{first.name} was written by {first.tool} and {part.name} by {part.tool}")
        elif part.run_id != first.run_id:
            found.append(f"{first.name} is of run {first.run_id} and {part.name} of run {part.run_id}")
        else:
            keys = sorted(key for key in {*first.configuration, *part.configuration}
                          if not per_shard(key) and first.configuration.get(key) != part.configuration.get(key))
            if keys:
                found.append(f"{first.name} and {part.name} differ in their configuration ({', '.join(keys)})")
    return found


def per_shard(key: str) -> bool:
    spec = KEYS_BY_NAME.get(key)
    return key in PER_SHARD_KEYS or (spec is not None and spec.section == "metrics")


def merge_histograms(parts: list[Part]) -> tuple[tuple, dict, int]:
    """(the widest layout, command -> merged HdrHistogram in it, values clamped)."""
    every = [hdr for part in parts for hdr in part.histograms.values()]
    layouts = [layout(hdr) for hdr in every] or [OWN_LAYOUT]
    widest = (min(low for low, _, _ in layouts), max(high for _, high, _ in layouts),
              max(digits for _, _, digits in layouts))
    merged: dict = {}
    clamped = 0
    for part in parts:
        for command, hdr in part.histograms.items():
            into = merged.setdefault(command, HdrHistogram(*widest))
            for value, n in histogram.recorded(hdr):
                if not into.record_value(value, n):  # beyond what the layout holds: hdrh says False
                    into.record_value(widest[1], n)
                    clamped += n
    return widest, merged, clamped


def union_of(parts: list[Part]) -> tuple[int, int, int]:
    """(first start, last finish, length of the union of the runs' measured spans), ms."""
    spans = sorted((part.start_ms, part.start_ms + part.duration_ms) for part in parts)
    total, (begin, end) = 0, spans[0]
    for start, finish in spans[1:]:
        if start > end:
            total += end - begin
            begin, end = start, finish
        else:
            end = max(end, finish)
    total += end - begin
    return spans[0][0], max(finish for _, finish in spans), total


def merge_series(parts: list[Part], step: int) -> tuple[dict, int, dict]:
    """Points of every file binned on absolute time: the epoch second of each point's
    Time, in steps of `step` seconds from the earliest. (series, origin in ms, Target
    Count per key)."""
    seconds = [point.time_ms // 1000 for part in parts for point in part.points]
    seconds += [time_ms // 1000 for part in parts for time_ms in part.targets]
    if not seconds:
        return {}, min(part.start_ms for part in parts), {}
    origin = min(seconds)

    def key_of(time_ms: int) -> int:
        return (time_ms // 1000 - origin) // step * step

    series: dict = {}
    for part in parts:
        for point in part.points:
            series.setdefault(key_of(point.time_ms), SeriesPoint()).add_recorded(
                point.command, point.count, point.latency)
    targets: dict = {}
    for part in parts:
        for time_ms, count in part.targets.items():
            targets[key_of(time_ms)] = targets.get(key_of(time_ms), 0) + count
    return series, origin * 1000, targets


def encode_widest(stats_block: dict, merged: dict, widest: tuple) -> None:
    total = HdrHistogram(*widest)
    for command, hdr in merged.items():
        total.add(hdr)
        stats_block[command]["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"] = \
            histogram.encode(hdr)
    stats_block["Totals"]["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"] = \
        histogram.encode(total)


def run_information(parts: list[Part]) -> dict:
    first = next((part for part in parts if part.tool == TOOL), None)
    if first is None:
        return {"Tool": TOOL, "Version": __version__}
    return {"Tool": TOOL, "Version": __version__, "Run ID": first.run_id,
            "Workload": first.harness.get("run", {}).get("workload")}


def harness_section(parts: list[Part], stats: CommandStats, seconds: float, max_lag: float, notes: list,
                    force: bool) -> dict:
    shards = [shard_block(part) for part in parts]
    failed = [shard for shard in shards if shard["exit"]["status"]]
    status = failed[0]["exit"]["status"] if failed else 0
    reason = f"merged {plural(len(parts), 'result file')}"
    if failed:
        reason += "; " + "; ".join(f"{shard['file']}: {shard['exit']['reason']}" for shard in failed)
    block = harness_block(stats, seconds, status, reason)
    own = [part.harness.get("run", {}) for part in parts if part.tool == TOOL]
    if own:
        block["run"] = {
            "run_id": own[0].get("run_id"),
            "target": own[0].get("target"),
            "workload": own[0].get("workload"),
            **{key: sum(int(run.get(key, 0)) for run in own)
               for key in ("client_instances", "connections", "threads", "warmup_ops")},
            "max_schedule_lag_seconds": max_lag,
        }
        if "target_rate" in own[0]:
            block["run"]["target_rate"] = own[0]["target_rate"]
    if stats.nodes:
        block["cluster"] = cluster_block(stats)
    preload: dict = {}
    for part in parts:
        for command, n in (part.harness.get("preload") or {}).items():
            preload[command] = preload.get(command, 0) + int(n)
    if preload:
        block["preload"] = preload
    block["shards"] = shards
    block["merge"] = {"inputs": len(parts), "forced": force, "notes": notes}
    return block


def shard_block(part: Part) -> dict:
    """One input as the merged file lists it: where it came from and what it measured."""
    run = part.harness.get("run", {})
    seconds = part.duration_ms / 1000
    block = {"file": part.name, "tool": part.tool}
    for key in ("shard", "host"):
        if run.get(key) is not None:
            block[key] = run[key]
    block["totals"] = {
        "count": part.stats.total, "errors": part.stats.total_errors,
        "indeterminate": part.stats.total_indeterminate, "seconds": round(seconds, 3),
        "ops_per_sec": round(part.stats.total / seconds, 3) if seconds > 0 else 0.0,
    }
    block["exit"] = part.harness.get("exit") or {"status": 0, "reason": f"{part.tool} result"}
    return block
