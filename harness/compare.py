"""`harness compare BASELINE.json CURRENT.json [--max-regression=PCT] [--format=FORMAT]`.

Reads two result files ("ALL STATS", as memtier_benchmark lays them out, so memtier's
own files compare too) and judges, per command, ops/s, p50 and p99.

A figure is a regression only when both hold:
- it got worse by more than PCT percent (default 10): fewer ops/s, higher p50 or p99;
- and, where both files carry a per-second series ("Time-Serie"), the middle halves
  (25th to 75th percentile) of the two runs' per-second values do not overlap, the
  current one lying on the worse side. A whole-run p99 moves by 15% between two
  identical runs on a busy machine; a shift smaller than the runs' own second-to-second
  spread is reported as noise, not as a regression.
Exit 1 on a regression, 0 otherwise; unreadable files or bad options: one line, exit 2.
The output itself is in compare_output.py.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass

from harness.errors import ConfigError

DEFAULT_MAX_REGRESSION = 10.0


@dataclass(frozen=True)
class Figure:
    label: str
    path: tuple  # where the whole-run value sits in a command block
    point_key: str | None  # the per-second value in a Time-Serie point (None: from Count)
    higher_is_better: bool
    decimals: int  # as the result file rounds it


FIGURES = (
    Figure("ops/s", ("Ops/sec",), None, True, 2),
    Figure("p50 ms", ("Percentile Latencies", "p50.000"), "p50.00", False, 3),
    Figure("p99 ms", ("Percentile Latencies", "p99.000"), "p99.00", False, 3),
)
# Fewer interior points than this give no spread: quartiles of 2 or 3 seconds say nothing.
MIN_POINTS = 4


@dataclass(frozen=True)
class Spread:
    """The middle half of a figure's per-second values."""

    q1: float
    q3: float
    points: int


@dataclass(frozen=True)
class Row:
    command: str
    figure: Figure
    baseline: float | None
    current: float | None
    change: float | None  # percent; None when it cannot be computed (missing, or from 0)
    baseline_spread: Spread | None
    current_spread: Spread | None
    verdict: str  # "ok", "noise", "REGRESSION" or "missing"


def read_json(path: str):
    """A result file's JSON, whatever it holds; ConfigError (one line) if it cannot be
    read or is not JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read result file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"result file {path} is not JSON: {exc}") from None


def read_document(path: str) -> dict:
    """A result file as a dict (the harness's or memtier_benchmark's); ConfigError if it
    cannot be read or is not a JSON object."""
    document = read_json(path)
    if not isinstance(document, dict):
        raise ConfigError(f"result file {path} is not a JSON object")
    return document


def command_blocks(document: dict) -> dict:
    """The command blocks ("Totals" included) of a document's "ALL STATS" ({} if none)."""
    stats = document.get("ALL STATS")
    if not isinstance(stats, dict):
        return {}
    return {name: block for name, block in stats.items() if isinstance(block, dict) and "Ops/sec" in block}


def load(path: str) -> dict:
    """The command blocks ("Totals" included) of a result file's "ALL STATS"."""
    document = read_document(path)
    stats = document.get("ALL STATS")
    if not isinstance(stats, dict):
        raise ConfigError(f"result file {path} has no \"ALL STATS\" section")
    return command_blocks(document)


def number(value) -> float | None:
    """A finite number from a result file as a float; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def whole_run(block: dict, figure: Figure) -> float | None:
    value = block
    for part in figure.path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return number(value)


def per_second(block: dict, figure: Figure) -> list[float]:
    """The figure's value in each point of the block's Time-Serie, first and last point
    left out: a run rarely starts or ends on a second's boundary, so those are partial."""
    series = block.get("Time-Serie")
    if not isinstance(series, dict):
        return []
    try:
        seconds = sorted((int(key), point) for key, point in series.items() if isinstance(point, dict))
    except ValueError:
        return []
    # A long run's points cover more than a second each (the series halves its resolution).
    step = min((b[0] - a[0] for a, b in zip(seconds, seconds[1:])), default=1) or 1
    values = []
    for _, point in seconds[1:-1]:
        if figure.point_key is None:
            count = number(point.get("Count"))
            value = count / step if count is not None else None
        else:
            value = number(point.get(figure.point_key))  # absent in a second without replies
        if value is not None:
            values.append(value)
    return values


def spread(values: list[float]) -> Spread | None:
    if len(values) < MIN_POINTS:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Spread(q1, q3, len(values))


def change_percent(before: float, after: float) -> float | None:
    if before == 0:
        return 0.0 if after == 0 else None
    return 100.0 * (after - before) / before


def beyond_noise(figure: Figure, base: Spread | None, current: Spread | None) -> bool:
    """Whether the current run's middle half lies wholly on the worse side of the
    baseline's. Without a spread in both files only the bound can judge: True."""
    if base is None or current is None:
        return True
    return current.q3 < base.q1 if figure.higher_is_better else current.q1 > base.q3


def judge(command: str, figure: Figure, baseline: dict, current: dict, bound: float) -> Row:
    before, after = whole_run(baseline, figure), whole_run(current, figure)
    base_spread, cur_spread = spread(per_second(baseline, figure)), spread(per_second(current, figure))
    if before is None or after is None:
        return Row(command, figure, before, after, None, base_spread, cur_spread, "missing")
    change = change_percent(before, after)
    if change is None:  # from 0 to something: only a gain in ops/s is not worse
        worse = not figure.higher_is_better
    else:
        worse = (-change if figure.higher_is_better else change) > bound
    if not worse:
        verdict = "ok"
    elif beyond_noise(figure, base_spread, cur_spread):
        verdict = "REGRESSION"
    else:
        verdict = "noise"
    return Row(command, figure, before, after, change, base_spread, cur_spread, verdict)


def compare(baseline: dict, current: dict, bound: float) -> list[Row]:
    """A row per figure of every command both files have, in the baseline's order."""
    return [judge(name, figure, baseline[name], current[name], bound)
            for name in baseline if name in current for figure in FIGURES]


def parse_bound(text: str | None) -> float:
    try:
        bound = float(text) if text is not None else DEFAULT_MAX_REGRESSION
        if not math.isfinite(bound) or bound < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"invalid --max-regression {text!r} (command line): expected a percentage >= 0"
        ) from None
    return bound
