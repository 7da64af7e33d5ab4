"""The live view, printed by the reporter every stats_interval.

On a terminal it redraws one block in place, with a progress bar for duration or
requests; anywhere else (cron, CI, a pipe) it writes one plain line per interval, so
logs stay greppable: "[  10.0s] 123,456 ops  24,691 ops/s  p50 0.120 ... | ... | ...".
"""

from __future__ import annotations

import logging
import time

from harness import histogram

# One line per interval into log_file (this logger has only the file handler).
interval_log = logging.getLogger("harness.intervals")

BAR_WIDTH = 30


def _percentiles(counts: dict) -> str:
    summary = histogram.Summary(counts)
    if not summary.total:
        return "p50 -  p95 -  p99 -  p99.9 -  max - ms"
    values = [summary.percentile(p) / 1000 for p in (50, 95, 99, 99.9)] + [summary.max() / 1000]
    return "p50 {:.3f}  p95 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f} ms".format(*values)


def _server_text(server: dict | None) -> str:
    if not server:
        return "server: no sample"
    cpu = "-" if server["cpu_percent"] is None else f"{server['cpu_percent']:.0f}%"
    memory = (server["used_memory"] or 0) / 2**20
    return (f"server: cpu {cpu}  clients {server['connected_clients']}  "
            f"ops/s {server['instantaneous_ops_per_sec']:,}  mem {memory:.1f} MB")


def _process_text(processes: dict) -> str:
    return "  ".join(f"{name.split(':')[1]} {figures['cpu_percent']:.0f}% {figures['rss_mb']:.0f}MB"
                     for name, figures in processes.items())


class LiveView:
    def __init__(self, config, out):
        self.config = config
        self.out = out
        self.tty = out.isatty()
        self.drawn = 0  # lines of the block currently on screen (terminal only)

    def show(self, state, rate: float, interval, processes: dict, server: dict | None, busy: list) -> None:
        elapsed = time.monotonic() - state.start
        totals = state.totals
        errors = totals.errors_by_type()
        error_text = ", ".join(f"{kind} {n:,}" for kind, n in sorted(errors.items())) or "0"
        lag = max(state.lag.values(), default=0.0)
        per_command = "  ".join(
            f"{name} {totals.count_of(name):,}" for name in totals.commands()
        )
        head = (f"[{elapsed:7.1f}s] {totals.total:,} ops  {rate:,.0f} ops/s  {_percentiles(interval.all_latency())}  "
                f"errors {error_text}  conns {sum(state.connections.values())}  lag {lag:.3f}s")
        warning = ""
        if busy:
            names = ", ".join(name.split(":")[1] for name in busy)
            warning = f"  WARNING {names} above 90% CPU: the harness, not the server, may be the limit"
        plain = f"{head}  | {per_command} | {_process_text(processes)} | {_server_text(server)}{warning}"
        interval_log.info(plain)  # to log_file, when one is configured
        if not self.tty:
            print(plain, file=self.out, flush=True)
            return
        lines = [self._progress(elapsed, totals.total), head]
        for name in totals.commands():
            lines.append(f"  {name:<10} {totals.count_of(name):>12,}  {_percentiles(interval.latency_of(name))}")
        lines += [f"  processes: {_process_text(processes)}", f"  {_server_text(server)}"]
        if warning:
            lines.append(warning.strip())
        up = f"\x1b[{self.drawn}F\x1b[J" if self.drawn else ""
        self.out.write(up + "\n".join(lines) + "\n")
        self.out.flush()
        self.drawn = len(lines)

    def _progress(self, elapsed: float, done: int) -> str:
        config = self.config
        shares = []
        if config.duration:
            shares.append(elapsed / config.duration)
        if config.requests:
            shares.append(done / config.requests)
        if not shares:
            return f"running until stopped ({elapsed:.0f} s)"
        share = min(1.0, max(shares))
        filled = int(share * BAR_WIDTH)
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:6.1%}"

    def close(self) -> None:
        self.drawn = 0


def summary_line(state, seconds: float) -> str:
    totals = state.totals
    rate = totals.total / seconds if seconds > 0 else 0.0
    per_command = "  ".join(f"{name} {totals.count_of(name):,}" for name in totals.commands())
    return (
        f"[total {seconds:7.1f}s] {totals.total:,} ops  {rate:,.0f} ops/s  "
        f"errors {totals.total_errors:,}  indeterminate {totals.total_indeterminate:,}  max lag {state.max_lag:.3f}s  | {per_command}"
    )
