"""`harness compare A.json B.json --html OUT.html`: both runs' curves and spectra
overlaid (the baseline dashed), and the table of changes that `compare` prints, from
the same rows and verdicts (compare.py), as one self-contained page (report_page.py).
"""

from __future__ import annotations

import os

from harness import report_series as rs
from harness.compare import Row, command_blocks, read_document
from harness.compare_output import HEADER, cells
from harness.errors import HarnessError
from harness.preflight import REPORT_ROOM, check_writable_file
from harness.report_data import section, tool_and_workload
from harness.report_page import write_page

RUNS = ("baseline", "current")


def _overlay(per_run: dict[str, list[dict]]) -> list[dict]:
    """Each run's series under one chart: labelled by run, the baseline dashed."""
    return [{**series, "label": f"{run} {series['label']}", "group": series["label"], "dash": run == "baseline"}
            for run, run_series in per_run.items() for series in run_series]


def _on_axis(series: list[dict], own: list[int], axis: list[int]) -> list[dict]:
    """Series measured on `own` seconds, spread over the shared axis (None where absent)."""
    where = {second: i for i, second in enumerate(own)}
    return [{**s, "values": [s["values"][where[x]] if x in where else None for x in axis]} for s in series]


def charts(blocks: dict[str, dict]) -> list[dict]:
    axes = {run: rs.seconds_axis(b) for run, b in blocks.items()}
    axis = sorted(set().union(*axes.values()))
    shared = [name for name in rs.command_names(blocks["baseline"]) if name in blocks["current"]]
    throughput = _overlay({run: _on_axis(rs.throughput(b, axes[run], shared), axes[run], axis)
                           for run, b in blocks.items()})
    latency = _overlay({run: _on_axis([s for s in rs.latency_over_time(b.get(rs.TOTALS, {}), axes[run])
                                       if s["label"] in ("p50", "p99")], axes[run], axis)
                        for run, b in blocks.items()})
    histograms = {f"{run} {'all' if name == rs.TOTALS else name}": counts
                  for run, b in blocks.items() for name in [*shared, rs.TOTALS]
                  if name in b and (counts := rs.histogram_counts(b[name]))}
    spectrum_axis, spectra = rs.spectra(histograms)
    for series in spectra:
        run, _, name = series["label"].partition(" ")
        series.update(dash=run == "baseline", group=name)
    return [
        section("Throughput over time", charts=[
            rs.chart("throughput", "operations per second", axis, throughput, "s", "ops/s")]),
        section("Latency over time", charts=[
            rs.chart("latency", "latency over time: all commands", axis, latency, "s", "ms")]),
        section("Latency percentile spectrum", charts=[
            rs.chart("spectrum", "latency by percentile (whole run)", spectrum_axis, spectra, "percentile", "ms",
                     kind="spectrum")]),
    ]


def page(paths: dict[str, str], rows: list[Row], verdict: str, only: list[str]) -> dict:
    documents = {run: read_document(path) for run, path in paths.items()}
    blocks = {run: command_blocks(document) for run, document in documents.items()}
    changes = section("Changes", tables=[{"title": "", "columns": HEADER, "rows": cells(rows)}],
                      notes=["25-75%: the middle half of each run's per-second values", *only])
    glance = [[run, " ".join(filter(None, [*tool_and_workload(document), os.path.abspath(paths[run])]))]
              for run, document in documents.items()]
    regression = any(row.verdict == "REGRESSION" for row in rows)
    if not regression:  # a regression is said once, as the page's warning
        glance.append(["verdict", verdict])
    return {
        "title": "redis-harness compare",
        "source": f"{os.path.abspath(paths['baseline'])} against {os.path.abspath(paths['current'])}",
        "glance": glance,
        "warnings": [verdict] if regression else [],
        "sections": [s for s in [changes, *charts(blocks)] if s["tables"] or s["charts"]],
    }


def write_compare_page(path: str, baseline_path: str, current_path: str, rows: list[Row], verdict: str,
                       only: list[str]) -> None:
    check_writable_file(path, "--html", "command line", REPORT_ROOM)
    data = page({"baseline": baseline_path, "current": current_path}, rows, verdict, only)
    try:
        write_page(path, data)
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {exc.strerror}") from None
