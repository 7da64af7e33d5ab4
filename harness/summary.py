"""The end of a run on the screen: the one-line totals, the table per command, notes.

On a terminal the table fits its width (harness.tables drops columns, least useful
first); anywhere else (a pipe, a log) it keeps every column, so the text is the same
from run to run. The numbers are the result file's: the same CommandStats and seconds.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from harness.plural import plural
from harness import histogram
from harness.results import command_block
from harness.tables import fitted_table

HEADERS = ["command", "ops", "ops/s", "errors", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "hits"]
# Narrow terminals lose these first: the hit rate and the deepest tail are in the result file.
DROP_ORDER = ["hits", "p99.9 ms", "errors", "ops/s", "max ms", "p50 ms"]

def summary_line(state, seconds: float) -> str:
    totals = state.totals
    rate = totals.total / seconds if seconds > 0 else 0.0
    per_command = "  ".join(f"{name} {totals.count_of(name):,}" for name in totals.commands())
    return (
        f"[total {seconds:7.1f}s] {totals.total:,} ops  {rate:,.0f} ops/s  "
        f"errors {totals.total_errors:,}  indeterminate {totals.total_indeterminate:,}  "
        f"max lag {state.max_lag:.3f}s  | {per_command}"
    )

def quiet_line(state, seconds: float, written: list[str]) -> str:
    """--quiet: the run in one line, as redis-benchmark -q prints it, and where it went."""
    totals = state.totals
    rate = totals.total / seconds if seconds > 0 else 0.0
    latency = histogram.summary_ms(totals.all_latency())
    files = f"  -> {', '.join(written)}" if written else ""
    return (f"{totals.total:,} ops in {seconds:.1f} s: {rate:,.0f} ops/s, p50 {latency.get('p50_ms', 0):.3f} ms, "
            f"p99 {latency.get('p99_ms', 0):.3f} ms, errors {totals.total_errors:,}{files}")


def _latency_cells(summary: dict) -> list[str]:
    return [f"{summary.get(key, 0):.3f}" for key in ("p50_ms", "p99_ms", "p99.9_ms", "max_ms")]

def table_rows(stats, seconds: float, paced: bool) -> list[list[str]]:
    """One row per command, TOTAL, and with a paced run each command's service time."""
    rows = []
    for name in stats.commands() + ["TOTAL"]:
        if name == "TOTAL":
            count, errors, hits = stats.total, stats.total_errors, ""
            summary = histogram.summary_ms(stats.all_latency())
        else:
            block = command_block(stats, name)  # already holds the latency summary
            count, errors, summary = block["count"], block["errors"], block["latency"]
            hits = f"{block['hit_rate']:.1%}" if "hit_rate" in block else ""
        rate = count / seconds if seconds > 0 else 0.0
        rows.append([name, f"{count:,}", f"{rate:,.0f}", f"{errors:,}", *_latency_cells(summary), hits])
    if paced:
        for name in stats.commands():
            service = histogram.summary_ms(stats.service.get(name, {}))
            if service:
                rows.append([f"{name} svc", "", "", "", *_latency_cells(service), ""])
    return rows

def notes(stats, pubsub: dict | None, paced: bool) -> list[str]:
    lines = []
    if paced and any(histogram.summary_ms(stats.service.get(name, {})) for name in stats.commands()):
        lines.append("(svc: service time, from the write to the reply; the rows above count from each "
                     "operation's intended start)")
    if stats.total_indeterminate:
        causes = ", ".join(f"{cause} {n:,}" for cause, n in sorted(stats.indeterminate_by_type().items()))
        lines.append(f"indeterminate: {plural(stats.total_indeterminate, 'operation')} written on connections "
                     f"that failed before replying ({causes}); the server may or may not have run them")
    if pubsub is not None:
        latency = pubsub["latency"]
        lines.append(
            f"pub/sub: published {pubsub['published']:,} x {plural(pubsub['subscribers'], 'subscriber')} = "
            f"{pubsub['expected']:,} expected, received {pubsub['received']:,}, lost {pubsub['lost']:,}, "
            f"out of order {pubsub['out_of_order']:,}; delivery p50 {latency.get('p50_ms', 0):.3f} ms, "
            f"p99 {latency.get('p99_ms', 0):.3f} ms"
        )
    return lines

def console_for(out) -> Console:
    """A Console on `out`: the terminal's own width on a terminal; elsewhere wide enough
    that nothing is cut or folded (a log keeps whole lines)."""
    if out.isatty():
        return Console(file=out, highlight=False)
    return Console(file=out, width=10_000, no_color=True, highlight=False, soft_wrap=True)

def say(out, text: str) -> None:
    """One message after the table: folded at word boundaries to fit a terminal, whole
    in a pipe."""
    console_for(out).print(Text(text))
    out.flush()


def print_table(out, stats, seconds: float, pubsub: dict | None = None, paced: bool = False) -> None:
    """The table and its notes, fitted to `out`."""
    console = console_for(out)
    rows = table_rows(stats, seconds, paced)
    headers = HEADERS
    if not any(row[-1] for row in rows):  # no reads with a hit rate: no empty column
        headers, rows = HEADERS[:-1], [row[:-1] for row in rows]
    console.print(fitted_table(headers, rows, console.width if out.isatty() else None, DROP_ORDER))
    for line in notes(stats, pubsub, paced):
        console.print(Text(line))
    out.flush()

def print_summary(out, state, seconds: float, pubsub: dict | None = None, paced: bool = False) -> None:
    """The totals line, then the table."""
    console_for(out).print(Text(summary_line(state, seconds)))
    print_table(out, state.totals, seconds, pubsub, paced)
