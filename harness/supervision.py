"""In the coordinator: what it learns from the copies of the client processes' Deltas.

Each client process sends the coordinator a copy of every Delta (about one a second,
harness/relay.py). That copy is
- its heartbeat: a process not heard from for heartbeat_timeout seconds after the
  start (SIGSTOP, a hang, a GIL held for ever) is named and killed, and the run ends
  with status 3 (Heartbeats);
- the coordinator's own account of the run: if the reporter process dies, the
  coordinator prints the totals and writes a result file from it (Fallback). That
  file holds only the "harness" block: per-command counts, errors and latency, the
  totals, the exit status, reason and failures, and `"partial"` saying why; no memtier
  blocks, time series, resource samples or thresholds (those lived in the reporter).
Pure apart from Fallback.write(), which prints and writes the file.
"""

from __future__ import annotations

import signal
import sys

from harness.messages import Delta
from harness.results import harness_block, write_result
from harness.summary import print_table
from harness.stats import CommandStats

PARTIAL_NOTE = ("the reporter process died: this file was written by the coordinator from its copy of the "
                "client processes' per-second figures (counts, errors, latency); no time series, samples or "
                "thresholds")


class Heartbeats:
    """When each client process was last heard from (monotonic seconds)."""

    def __init__(self, processes: int, timeout: float):
        self.timeout = timeout
        self.last: list[float | None] = [None] * processes  # None: not started yet
        self.finished: set[int] = set()  # sent their final Delta: done sending, exiting

    def start(self, now: float) -> None:
        self.last = [now] * len(self.last)

    def seen(self, index: int, now: float, final: bool = False) -> None:
        if self.last[index] is not None:
            self.last[index] = now
        if final:
            self.finished.add(index)

    def silent(self, now: float, live: list[int]) -> list[tuple[int, float]]:
        """(index, seconds silent) of the live processes past the timeout."""
        return [(index, now - self.last[index]) for index in live
                if self.last[index] is not None and now - self.last[index] > self.timeout]


def how_it_ended(code: int | None) -> str:
    """A process's exit code in words, for the line that names it."""
    if code is None:
        return "did not finish in time"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


class Fallback:
    """The Deltas merged, as the reporter merges them, minus what only it needs."""

    def __init__(self):
        self.totals = CommandStats()
        self.until = 0.0

    def add(self, delta: Delta) -> None:
        delta.stats.samples = []  # trace samples are the reporter's business
        self.totals.add(delta.stats)
        self.until = max(self.until, delta.until)

    def seconds(self, measured_from: float) -> float:
        return max(0.0, self.until - measured_from) if measured_from else 0.0

    def document(self, run_id: str, seconds: float, status: int, reason: str, failures: list[str]) -> dict:
        block = harness_block(self.totals, seconds, status, reason)
        block["run"] = {"run_id": run_id}
        block["exit"]["failures"] = list(failures)
        block["partial"] = PARTIAL_NOTE
        return {"harness": block}

    def write(self, config, run_id: str, measured_from: float, status: int, reason: str,
              failures: list[str]) -> None:
        """Print the totals and write the result file; OSError if it cannot be written."""
        seconds = self.seconds(measured_from)
        out = sys.stderr if config.output == "-" else sys.stdout
        print_table(out, self.totals, seconds)
        if config.output:
            write_result(config.output, self.document(run_id, seconds, status, reason, failures))
            if config.output != "-":
                print(f"result file: {config.output}", file=out, flush=True)
