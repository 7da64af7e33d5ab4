"""What the HTML report shows, as plain data: from a result document (the harness's or
memtier_benchmark's) to the page's sections, tables and charts. Pure; the page itself
(template, chart library, how the data is inlined) is report_page.py.

A page is {"title", "source", "glance": [[label, text]], "warnings": [text],
"sections": [{"title", "notes", "tables", "charts"}]}; a table is {"title", "columns",
"rows"}; a chart is report_series.chart(). A section, table or chart with nothing to
show is left out, so a file that lacks a part (memtier's has no "harness" block, a
run that never started has no "ALL STATS") still gives a page.
"""

from __future__ import annotations

import datetime

from harness import report_series as rs
from harness.compare import command_blocks, number
from harness.frame import warning_text

PERCENTILE_KEYS = (("p50", "p50.000"), ("p99", "p99.000"), ("p99.9", "p99.900"))


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _count(value) -> str:
    n = number(value)
    return "-" if n is None else f"{n:,.0f}"


def _ms(value) -> str:
    n = number(value)
    return "-" if n is None else f"{n:,.3f}"


def _setting(document: dict, name: str) -> float:
    """A configuration value as a number (the file holds their display text); 0 if absent."""
    try:
        return float(_dict(document.get("configuration")).get(name) or 0)
    except (TypeError, ValueError):
        return 0.0


def build(document: dict, source: str) -> dict:
    blocks = command_blocks(document)
    harness = _dict(document.get("harness"))
    sections = [at_a_glance(document, harness), *over_time(document, blocks, harness),
                per_command(blocks, harness), resources(harness), cluster(blocks, harness), pubsub(harness)]
    return {
        "title": title(document),
        "source": source,
        "glance": glance(document, blocks, harness),
        "warnings": warnings(harness),
        "sections": [s for s in sections if s and (s["tables"] or s["charts"] or s["notes"])],
    }


def section(title: str, tables=(), charts=(), notes=()) -> dict:
    return {"title": title, "tables": [t for t in tables if t and t["rows"]],
            "charts": [c for c in charts if c], "notes": [n for n in notes if n]}


def tool_and_workload(document: dict) -> tuple[str, str | None]:
    harness = _dict(document.get("harness"))
    info = _dict(document.get("run information"))
    tool = info.get("Tool") or ("redis-harness" if harness else "memtier_benchmark")
    return str(tool), _dict(harness.get("run")).get("workload") or info.get("Workload")


def title(document: dict) -> str:
    tool, workload = tool_and_workload(document)
    return f"{tool} report" + (f": {workload}" if workload else "")


def _started(document: dict) -> str | None:
    runtime = _dict(_dict(document.get("ALL STATS")).get("Runtime"))
    start = number(runtime.get("Start time"))
    if start is None:
        return None
    return datetime.datetime.fromtimestamp(start / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _shape(document: dict, harness: dict) -> str | None:
    run, info = _dict(harness.get("run")), _dict(document.get("run information"))
    config = _dict(document.get("configuration"))
    if not run:
        threads, clients = config.get("threads"), config.get("clients")
        return f"{threads} threads x {clients} connections" if threads and clients else None
    text = (f"{run.get('client_instances')} client processes, {run.get('connections')} connections, "
            f"{run.get('threads')} threads, pipeline {info.get('Pipeline', 1)}")
    rate = _dict(run.get("target_rate"))
    if rate.get("stages"):
        text += "; stages " + ", ".join(f"{s[0]:g}s:{s[1]:g}" for s in rate["stages"] if len(s) == 2)
    elif number(rate.get("rate")):
        text += f"; paced at {number(rate['rate']):,.0f} ops/s"
    else:
        text += "; closed loop"
    return text


def glance(document: dict, blocks: dict, harness: dict) -> list[list[str]]:
    run, totals, exit_ = _dict(harness.get("run")), _dict(harness.get("totals")), _dict(harness.get("exit"))
    info, config = _dict(document.get("run information")), _dict(document.get("configuration"))
    all_ = _dict(blocks.get(rs.TOTALS))
    runtime = _dict(_dict(document.get("ALL STATS")).get("Runtime"))
    seconds = number(totals.get("seconds"))
    if seconds is None and number(runtime.get("Total duration")) is not None:
        seconds = number(runtime["Total duration"]) / 1000
    server = config.get("server") and f"{config.get('server')}:{config.get('port')}"
    rows = [
        ["target", run.get("target") or info.get("Target") or server],
        ["workload", run.get("workload") or info.get("Workload")],
        ["run id", run.get("run_id") or info.get("Run ID")],
        ["started", _started(document)],
        ["shape", _shape(document, harness)],
        ["duration", None if seconds is None else f"{seconds:,.1f} s"],
        ["operations", _count(totals.get("count", all_.get("Count")))],
        ["ops/s", _count(totals.get("ops_per_sec", all_.get("Ops/sec")))],
        ["errors", None if not totals else _count(totals.get("errors"))],
        ["indeterminate", None if not totals.get("indeterminate") else _count(totals.get("indeterminate"))],
        ["warmup operations", None if not run.get("warmup_ops") else _count(run.get("warmup_ops"))],
        ["max schedule lag", None if not run.get("max_schedule_lag_seconds")
         else f"{number(run['max_schedule_lag_seconds']):.3f} s"],
        ["harness cost", None if not number(_dict(harness.get("resources")).get("ops_per_harness_cpu_second"))
         else f"{_dict(harness['resources'])['ops_per_harness_cpu_second']:,.0f} operations per harness CPU-second"],
        ["exit", None if not exit_ else f"{exit_.get('status')}: {exit_.get('reason') or 'ok'}"],
    ]
    if harness.get("partial"):
        rows.append(["note", str(harness["partial"])])
    return [[label, str(value)] for label, value in rows if value not in (None, "", "-")]


def warnings(harness: dict) -> list[str]:
    out = [f"at {number(s.get('second')) or 0:.1f} s: {warning_text(s['busy'])}"
           for s in _list(harness.get("samples")) if isinstance(s, dict) and _list(s.get("busy"))]
    for failure in _list(_dict(harness.get("exit")).get("failures")):
        out.append(f"failure: {failure}")
    return out


def at_a_glance(document: dict, harness: dict) -> dict:
    totals = _dict(harness.get("totals"))
    errors = {**_dict(totals.get("errors_by_type"))}
    errors.update({f"indeterminate: {cause}": n for cause, n in _dict(totals.get("indeterminate_by_cause")).items()})
    thresholds = [t for t in _list(harness.get("thresholds")) if isinstance(t, dict)]
    disruptions = [d for d in _list(harness.get("disruptions")) if isinstance(d, dict)]
    return section("Errors, thresholds and disruptions", tables=[
        {"title": "errors by type", "columns": ["type", "count"],
         "rows": [[kind, _count(n)] for kind, n in sorted(errors.items())]},
        {"title": "thresholds", "columns": ["threshold", "measured", "verdict"],
         "rows": [[str(t.get("threshold")), f"{number(t.get('measured')) or 0:g}",
                   "PASS" if t.get("passed") else "FAIL"] for t in thresholds]},
        {"title": "disruptions", "columns": ["at", "served again after", "failed operations", "connections"],
         "rows": [[f"{number(d.get('at_s')) or 0:.1f} s",
                   "not within the run" if d.get("recovered_after_s") is None
                   else f"{number(d['recovered_after_s']):.3f} s",
                   _count(d.get("failed_operations")), _count(d.get("connections"))] for d in disruptions]},
    ])


def bands(document: dict, harness: dict, end: float) -> list[dict]:
    """Spans marked on the time charts: warmup, ramp, disruptions."""
    out = []
    for name in ("warmup", "ramp"):
        if _setting(document, name) > 0:
            out.append({"from": 0, "to": _setting(document, name), "label": name})
    for d in _list(harness.get("disruptions")):
        if isinstance(d, dict) and number(d.get("at_s")) is not None:
            after = number(d.get("recovered_after_s"))
            out.append({"from": d["at_s"], "to": end if after is None else d["at_s"] + after,
                        "label": "disruption"})
    return out


def over_time(document: dict, blocks: dict, harness: dict) -> list[dict]:
    axis = rs.seconds_axis(blocks)
    names = rs.command_names(blocks)
    marks = bands(document, harness, axis[-1] if axis else 0)
    rate = rs.throughput(blocks, axis, names)
    wanted = rs.target(blocks, axis)
    throughput = section("Throughput over time", charts=[rs.chart(
        "throughput", "operations per second", axis, rate + ([wanted] if wanted else []), "s", "ops/s",
        bands=marks)], notes=[_marks_note(marks)])
    latency_charts = [rs.chart(f"latency-{name}", f"latency over time: {'all commands' if name == rs.TOTALS else name}",
                               axis, rs.latency_over_time(blocks[name], axis), "s", "ms", bands=marks)
                      for name in [rs.TOTALS, *names] if name in blocks]
    latency = section("Latency over time", charts=latency_charts, tables=[service_times(harness)])
    histograms = {("all" if name == rs.TOTALS else name): counts for name in [*names, rs.TOTALS]
                  if name in blocks and (counts := rs.histogram_counts(blocks[name]))}
    spectrum_axis, spectra = rs.spectra(histograms)
    spectrum = section("Latency percentile spectrum", charts=[rs.chart(
        "spectrum", "latency by percentile (whole run)", spectrum_axis, spectra, "percentile", "ms",
        kind="spectrum")])
    return [throughput, latency, spectrum]


def _marks_note(marks: list[dict]) -> str:
    if not marks:
        return ""
    return "shaded: " + ", ".join(sorted({m["label"] for m in marks}))


def service_times(harness: dict) -> dict:
    """A paced run: latency (from the intended start) beside service time (write to reply)."""
    rows = []
    paced = "target_rate" in _dict(harness.get("run"))
    for name, block in _dict(harness.get("commands")).items() if paced else ():
        latency, service = _dict(_dict(block).get("latency")), _dict(_dict(block).get("service_time"))
        if service.get("count"):
            rows.append([name, *(f"{_ms(latency.get(k))} / {_ms(service.get(k))}"
                                 for k in ("p50_ms", "p99_ms", "p99.9_ms", "max_ms"))])
    return {"title": "paced run: latency from the intended start / service time (write to reply), ms",
            "columns": ["command", "p50", "p99", "p99.9", "max"], "rows": rows}


def per_command(blocks: dict, harness: dict) -> dict:
    commands = _dict(harness.get("commands"))
    rows = []
    for name in [*rs.command_names(blocks), rs.TOTALS]:
        block = _dict(blocks.get(name))
        if not block:
            continue
        own = _dict(commands.get(name)) if name != rs.TOTALS else _dict(harness.get("totals"))
        percentiles = _dict(block.get("Percentile Latencies"))
        rows.append([name, _count(block.get("Count")), _count(block.get("Ops/sec")),
                     _count(own.get("errors")) if own else "-", _hit_rate(block, own),
                     *(_ms(percentiles.get(key)) for _, key in PERCENTILE_KEYS), _ms(block.get("Max Latency"))])
    return section("Per command", tables=[{
        "title": "whole run (latency in ms)",
        "columns": ["command", "ops", "ops/s", "errors", "hit rate", "p50", "p99", "p99.9", "max"], "rows": rows}])


def _hit_rate(block: dict, own: dict) -> str:
    rate = number(own.get("hit_rate"))
    if rate is None:
        hits, misses = number(block.get("Hits/sec")) or 0, number(block.get("Misses/sec")) or 0
        rate = hits / (hits + misses) if hits + misses else None
    return "-" if rate is None else f"{rate:.1%}"


def resources(harness: dict) -> dict:
    samples = [s for s in _list(harness.get("samples")) if isinstance(s, dict) and number(s.get("second")) is not None]
    axis = [s["second"] for s in samples]
    names = sorted({name for s in samples for name in _dict(s.get("processes"))})

    def process_series(figure: str) -> list[dict]:
        return [{"label": name.removeprefix("harness:"),
                 "values": [number(_dict(_dict(s.get("processes")).get(name)).get(figure)) for s in samples]}
                for name in names]

    def server_series(figure: str, label: str, scale: float = 1.0) -> list[dict]:
        values = [number(_dict(s.get("server")).get(figure)) for s in samples]
        return [{"label": label, "values": [None if v is None else round(v / scale, 2) for v in values]}]

    clients = _dict(_dict(harness.get("resources")).get("clients"))
    return section("Harness and server resources", charts=[
        rs.chart("harness-cpu", "harness CPU % per process", axis, process_series("cpu_percent"), "s", "%"),
        rs.chart("harness-rss", "harness RSS per process", axis, process_series("rss_mb"), "s", "MB"),
        rs.chart("server-cpu", "server CPU %", axis, server_series("cpu_percent", "server"), "s", "%"),
        rs.chart("server-memory", "server used_memory", axis,
                 server_series("used_memory", "used_memory", 2**20), "s", "MB"),
    ], tables=[{"title": "client processes over the whole run",
                "columns": ["process", "CPU seconds", "setup CPU seconds", "max RSS MB"],
                "rows": [[f"client{p}", str(_dict(c).get("cpu_seconds")), str(_dict(c).get("setup_cpu_seconds")),
                          str(_dict(c).get("max_rss_mb"))] for p, c in clients.items()]}])


def cluster(blocks: dict, harness: dict) -> dict | None:
    block = _dict(harness.get("cluster"))
    axis = rs.seconds_axis(blocks)
    moved_ask = rs.redirections(blocks, axis)
    masters = rs.per_node(blocks, axis)
    if not block and not moved_ask and not masters:
        return None
    nodes = _dict(block.get("nodes"))
    redirected = _dict(block.get("redirections"))
    return section("Redis Cluster", tables=[
        {"title": "operations per master", "columns": ["master", "operations", "share"],
         "rows": [[node, _count(_dict(n).get("count")), f"{number(_dict(n).get('share')) or 0:.1%}"]
                  for node, n in nodes.items()]},
        {"title": "redirections followed", "columns": ["kind", "count"],
         "rows": [[kind, _count(n)] for kind, n in redirected.items()]},
    ], charts=[rs.chart("masters", "operations per second per master", axis, masters, "s", "ops/s"),
               rs.chart("redirections", "redirections followed per second", axis, moved_ask, "s", "per s")])


def pubsub(harness: dict) -> dict | None:
    block = _dict(harness.get("pubsub"))
    if not block:
        return None
    latency = _dict(block.get("latency"))
    expected = number(block.get("expected")) or 0
    lost = number(block.get("lost")) or 0
    rows = [[label, _count(block.get(key))] for key, label in (
        ("published", "published"), ("subscribers", "subscriber connections"), ("expected", "expected deliveries"),
        ("received", "received"), ("lost", "lost"), ("out_of_order", "out of order"),
        ("resubscribes", "resubscribes"))]
    rows.append(["loss", f"{lost / expected:.3%}" if expected else "-"])
    return section("Pub/sub delivery", tables=[
        {"title": "deliveries", "columns": ["figure", "value"], "rows": rows},
        {"title": "delivery latency (publish to receipt), ms", "columns": ["p50", "p99", "p99.9", "max"],
         "rows": [[_ms(latency.get(k)) for k in ("p50_ms", "p99_ms", "p99.9_ms", "max_ms")]]
         if latency.get("count") else []},
    ])
