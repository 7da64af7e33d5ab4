"""The terminal block and the summary table fit any width: fewer columns, never a
line longer than the terminal."""

import io
import re
from types import SimpleNamespace

from rich.console import Console

from harness import frame, histogram
from harness.messages import Delta, ProcessEnded
from harness.reporter import RunState
from harness.stats import CommandStats
from harness.summary import print_table


class Terminal(io.StringIO):
    def isatty(self):
        return True


def state_with_load() -> RunState:
    state = RunState(start=100.0)
    for second in range(1, 4):
        stats = CommandStats()
        for command in ("GET", "SET", "INCR", "DEL"):
            stats.ok[command] += 123_456
            for micros in (80, 150, 2_000, 45_000):
                histogram.record(stats.latency.setdefault(command, {}), micros, 10)
        state.apply(Delta(process=0, stats=stats, until=100.0 + second, connections=50))
    return state


def rendered(renderable, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=True, color_system=None).print(renderable)
    return out.getvalue().splitlines()


def test_the_block_fits_every_width_and_narrow_loses_columns():
    state = state_with_load()
    processes = {f"harness:client{i}": {"cpu_percent": 97.0, "rss_mb": 51.0, "full": True} for i in range(8)}
    server = {"cpu_percent": 80.0, "connected_clients": 401, "instantaneous_ops_per_sec": 1_234_567,
              "used_memory": 3 * 2**20}
    block = frame.Block.of(state.totals, processes, server, list(processes))
    headers = {}
    for width in (40, 60, 80, 120, 200):
        bar = frame.Bar(SimpleNamespace(duration=30, requests=0)).update(12.0, state.totals.total, 98765.0)
        lines = rendered(frame.render(state, state.measured_seconds(), bar, block, width), width)
        assert max(len(line) for line in lines) <= width, (width, lines)
        headers[width] = next(line for line in lines if line.startswith("command")).split()
    assert headers[120] == ["command", "ops", "p50", "p95", "p99", "p99.9", "max"]
    assert len(headers[40]) < len(headers[80]) <= len(headers[120])
    assert "p99" in headers[40]


def test_the_summary_table_fits_a_terminal_and_keeps_every_column_in_a_pipe(monkeypatch):
    state = state_with_load()
    widths = {}
    for width in (40, 80):
        monkeypatch.setenv("COLUMNS", str(width))  # the terminal's width, as rich reads it
        out = Terminal()
        print_table(out, state.totals, 3.0)
        lines = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).splitlines()  # without colours
        assert max(len(line) for line in lines) <= width, lines
        widths[width] = len(lines[0].split())
        assert any(line.startswith("TOTAL") for line in lines)
    assert widths[40] < widths[80]
    pipe = io.StringIO()
    print_table(pipe, state.totals, 3.0)
    header = pipe.getvalue().splitlines()[0].split()
    assert header == ["command", "ops", "ops/s", "errors", "p50", "ms", "p99", "ms", "p99.9", "ms", "max", "ms",
                      "hits"]
    assert any(line.startswith("TOTAL") for line in pipe.getvalue().splitlines())


def test_last_frame_and_summary_count_the_same_seconds():
    """The live view and the summary both count from the end of warmup to the last
    reply (while running: to the latest Delta); the wall clock plays no part."""
    state = state_with_load()
    state.warmup_seconds = 1.0
    assert state.measured_seconds() == 2.0  # Deltas up to 103.0, measured from 101.0
    state.apply(ProcessEnded(process=0, last_reply=102.9, cpu_seconds=1.0))
    assert round(state.measured_seconds(), 6) == 1.9
