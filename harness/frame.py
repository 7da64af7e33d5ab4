"""What the live view shows, as text (one plain line) or as a rich renderable (the
terminal block). Pure: built from the RunState and the interval's figures, so a test
can render it at any width.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.columns import Columns
from rich.console import Group
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.text import Text

from harness import histogram
from harness.tables import fitted_table

PERCENTILES = (50, 95, 99, 99.9)
LATENCY_HEADERS = ["p50", "p95", "p99", "p99.9", "max"]
# A narrow terminal loses these first; p99 stays as long as anything does.
DROP_ORDER = ["p95", "p99.9", "max", "p50"]


def latency_ms(counts: dict) -> list[float] | None:
    """[p50, p95, p99, p99.9, max] in ms, or None with no operations."""
    summary = histogram.Summary(counts)
    if not summary.total:
        return None
    return [summary.percentile(p) / 1000 for p in PERCENTILES] + [summary.max() / 1000]


def percentiles_text(counts: dict) -> str:
    values = latency_ms(counts)
    if values is None:
        return "p50 -  p95 -  p99 -  p99.9 -  max - ms"
    return "p50 {:.3f}  p95 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f} ms".format(*values)


def server_text(server: dict | None) -> str:
    if not server:
        return "server: no sample"
    cpu = "-" if server["cpu_percent"] is None else f"{server['cpu_percent']:.0f}%"
    memory = (server["used_memory"] or 0) / 2**20
    return (f"server: cpu {cpu}  clients {server['connected_clients']}  "
            f"ops/s {server['instantaneous_ops_per_sec']:,}  mem {memory:.1f} MB")


def process_entries(processes: dict) -> list[str]:
    entries = []
    for name, figures in processes.items():
        cpu = "-" if figures["cpu_percent"] is None else f"{figures['cpu_percent']:.0f}%"
        entries.append(f"{name.split(':')[1]} {cpu} {figures['rss_mb']:.0f}MB")
    return entries


def warning_text(busy: list) -> str:
    if not busy:
        return ""
    names = ", ".join(name.split(":")[1] for name in busy)
    return f"WARNING {names} above 90% CPU: the harness, not the server, may be the limit"


def errors_text(totals) -> str:
    errors = totals.errors_by_type()
    return ", ".join(f"{kind} {n:,}" for kind, n in sorted(errors.items())) or "0"


def target_text(state) -> str:
    """" (target N)" beside the rate of a paced run: what the schedule asks for now."""
    target = state.target_rate(time.monotonic())
    return "" if target is None else f" (target {target:,.0f})"


def plain_line(state, rate: float, interval, processes: dict, server: dict | None, busy: list) -> str:
    """The interval as one line, for pipes and log_file."""
    totals = state.totals
    lag = max(state.lag.values(), default=0.0)
    per_command = "  ".join(f"{name} {totals.count_of(name):,}" for name in totals.commands())
    head = (f"[{state.measured_seconds():7.1f}s] {totals.total:,} ops  {rate:,.0f} ops/s{target_text(state)}  "
            f"{percentiles_text(interval.all_latency())}  errors {errors_text(totals)}  "
            f"conns {sum(state.connections.values())}  lag {lag:.3f}s")
    warning = warning_text(busy)
    return (f"{head}  | {per_command} | {'  '.join(process_entries(processes))} | {server_text(server)}"
            + (f"  {warning}" if warning else ""))


@dataclass
class Block:
    """The figures that change every stats_interval: the interval's latency per
    command (and overall), the processes and the server."""

    latency: dict = field(default_factory=dict)  # command (or "all") -> latency_ms(...)
    processes: list = field(default_factory=list)
    server: str = ""
    warning: str = ""
    span: str = "the last interval"

    @classmethod
    def of(cls, interval, processes: dict, server: dict | None, busy: list,
           previous: "Block | None" = None) -> "Block":
        """From the interval's figures; with `previous`, the whole run's latency (the
        last frame) beside the previous block's processes and server."""
        latency = {name: latency_ms(interval.latency_of(name)) for name in interval.commands()}
        latency["all"] = latency_ms(interval.all_latency())
        if previous is not None:
            return cls(latency, previous.processes, previous.server, "", "the whole run")
        return cls(latency, process_entries(processes), server_text(server), warning_text(busy))


class Bar:
    """The progress bar: a share of duration or of requests (whichever is further on),
    or a pulse when the run goes until stopped."""

    def __init__(self, config):
        self.config = config
        bounded = bool(config.duration or config.requests)
        self.progress = Progress(BarColumn(bar_width=None), TaskProgressColumn(),
                                 TextColumn("{task.fields[detail]}"), expand=True)
        self.task = self.progress.add_task("", total=1.0 if bounded else None, detail="starting")

    def update(self, elapsed: float, done: int, rate: float, final: bool = False, target: str = "") -> Progress:
        config = self.config
        shares = []
        if config.duration:
            shares.append(elapsed / config.duration)
        if config.requests:
            shares.append(done / config.requests)
        when = f"{elapsed:.0f}/{config.duration:g} s" if config.duration else f"{elapsed:.0f} s"
        detail = f"{when}  {'done' if final else f'{rate:,.0f} ops/s now{target}'}"
        self.progress.update(self.task, completed=min(1.0, max(shares)) if shares else None, detail=detail)
        return self.progress


def waiting() -> Text:
    return Text("starting: client processes are connecting")


def head_text(state, seconds: float) -> str:
    totals = state.totals
    lag = max(state.lag.values(), default=0.0)
    return (f"{totals.total:,} ops in {seconds:.1f} s  errors {errors_text(totals)}  "
            f"conns {sum(state.connections.values())}  lag {lag:.3f} s")


def _cells(values: list[float] | None) -> list[str]:
    return ["-"] * len(LATENCY_HEADERS) if values is None else [f"{value:.3f}" for value in values]


def render(state, seconds: float, bar: Progress, block: Block, width: int):
    """The terminal block: bar, totals, the table, processes, server, warning."""
    totals = state.totals
    rows = [[name, f"{totals.count_of(name):,}", *_cells(block.latency.get(name))] for name in totals.commands()]
    rows.append(["all", f"{totals.total:,}", *_cells(block.latency.get("all"))])
    table = fitted_table(["command", "ops", *LATENCY_HEADERS], rows, width, DROP_ORDER)
    parts = [bar, Text(head_text(state, seconds)), Text(f"latency in ms over {block.span}", style="dim"), table]
    if block.processes:
        parts.append(Columns([Text(entry) for entry in block.processes], padding=(0, 2)))
    if block.server:
        parts.append(Text(block.server))
    if block.warning:
        parts.append(Text(block.warning, style="bold yellow"))
    return Group(*parts)
