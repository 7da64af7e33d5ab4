"""The live view, drawn by the reporter while the load runs.

Three forms, chosen once (`make_view`):
- a terminal: one rich `Live` block redrawn in place, fitted to the terminal's width
  (rich counts the lines it drew, so each frame replaces the last; a line never wraps).
  The progress bar, the current rate and the totals change every second (`tick`), the
  latency table, processes and server every stats_interval (`show`). The first frame
  is up as soon as the reporter starts; the last one is drawn from the final totals,
  the same numbers the summary prints.
- anywhere else (cron, CI, a pipe): one plain line per stats_interval, greppable:
  "[  10.0s] 123,456 ops  24,691 ops/s  p50 0.120 ... | ... | ...".
- quiet: nothing while the run goes.
- json (progress = json): one JSON object per stats_interval, for a program reading
  stdout (the Dask engine merges its shards' lines into one view).
Every form also writes the plain line to log_file, when one is configured.
"""

from __future__ import annotations

import json
import logging
import time

from harness import frame

# One line per interval into log_file (this logger has only the file handler).
interval_log = logging.getLogger("harness.intervals")

# The progress bar and current rate move this often (seconds).
TICK = 1.0


def make_view(config, out):
    if config.progress == "json":
        return JsonView(out)
    if config.quiet:
        return QuietView()
    if out.isatty():
        return TerminalView(config, out)
    return PlainView(out)


class QuietView:
    def begin(self) -> None:
        pass

    def tick(self, state) -> None:
        pass

    def show(self, state, rate: float, interval, processes: dict, server: dict | None, busy: list) -> None:
        interval_log.info(frame.plain_line(state, rate, interval, processes, server, busy))

    def finish(self, state, seconds: float) -> None:
        pass


class JsonView(QuietView):
    """{"seconds", "ops", "errors", "rate", "interval_ops", "latency"} per interval:
    running totals, the current rate, and the interval's latency histogram as
    {bucket index: count} (harness.histogram's buckets), which merges exactly."""

    def __init__(self, out):
        self.out = out

    def show(self, state, rate: float, interval, processes: dict, server: dict | None, busy: list) -> None:
        super().show(state, rate, interval, processes, server, busy)
        print(json.dumps(progress_record(state, rate, interval)), file=self.out, flush=True)


def progress_record(state, rate: float, interval) -> dict:
    totals = state.totals
    return {"seconds": round(state.measured_seconds(), 3), "ops": totals.total, "errors": totals.total_errors,
            "rate": round(rate, 1), "interval_ops": interval.total,
            "latency": {str(index): n for index, n in interval.all_latency().items()}}


class PlainView(QuietView):
    def __init__(self, out):
        self.out = out

    def show(self, state, rate: float, interval, processes: dict, server: dict | None, busy: list) -> None:
        line = frame.plain_line(state, rate, interval, processes, server, busy)
        interval_log.info(line)
        print(line, file=self.out, flush=True)


class TerminalView(QuietView):
    def __init__(self, config, out):
        from rich.console import Console
        from rich.live import Live

        self.config = config
        self.console = Console(file=out, highlight=False)
        self.progress = frame.Bar(config)
        self.block = frame.Block()  # the latest stats_interval figures
        # Redrawn only when told (no refresh thread: the reporter's loop is the clock);
        # other processes' output is not captured (it would only be delayed).
        self.live = Live(console=self.console, auto_refresh=False, redirect_stdout=False,
                         redirect_stderr=False, transient=False)
        self.done = False

    def begin(self) -> None:
        self.live.start()
        self.live.update(frame.waiting(), refresh=True)

    def tick(self, state) -> None:
        self._draw(state, time.monotonic() - state.start, state.measured_seconds())

    def show(self, state, rate: float, interval, processes: dict, server: dict | None, busy: list) -> None:
        interval_log.info(frame.plain_line(state, rate, interval, processes, server, busy))
        self.block = frame.Block.of(interval, processes, server, busy)
        self.tick(state)

    def finish(self, state, seconds: float) -> None:
        """The last frame, from the final totals and the summary's seconds."""
        if self.done:
            return
        self.done = True
        if state.start:
            # The whole run's latency, as the summary shows it, beside the last processes and server.
            self.block = frame.Block.of(state.totals, {}, None, [], previous=self.block)
            self._draw(state, time.monotonic() - state.start, seconds, final=True)
        self.live.stop()

    def _draw(self, state, elapsed: float, seconds: float, final: bool = False) -> None:
        bar = self.progress.update(elapsed, state.totals.total, state.current_rate(), final, frame.target_text(state))
        self.live.update(frame.render(state, seconds, bar, self.block, self.console.width), refresh=True)
