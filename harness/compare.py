"""`harness compare BASELINE.json CURRENT.json [--max-regression=PCT]`.

Reads two result files ("ALL STATS", as memtier_benchmark lays them out, so memtier's
own files compare too) and prints, per command, ops/s, p50 and p99 with their change.
Exit 1 when any of them got worse by more than PCT percent (default 10): fewer ops/s,
or higher p50 or p99. A nightly soak then fails on a slowdown, not only on fixed
thresholds. Unreadable files: one line and exit 2.
"""

from __future__ import annotations

import json

from harness.errors import ConfigError, ExitStatus

DEFAULT_MAX_REGRESSION = 10.0
# (label, path in a command block, True when a higher value is better)
FIGURES = (
    ("ops/s", ("Ops/sec",), True),
    ("p50 ms", ("Percentile Latencies", "p50.000"), False),
    ("p99 ms", ("Percentile Latencies", "p99.000"), False),
)


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read result file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"result file {path} is not JSON: {exc}") from None
    stats = document.get("ALL STATS") if isinstance(document, dict) else None
    if not isinstance(stats, dict):
        raise ConfigError(f"result file {path} has no \"ALL STATS\" section")
    return {name: block for name, block in stats.items() if isinstance(block, dict) and "Ops/sec" in block}


def _figure(block: dict, path: tuple) -> float | None:
    value = block
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) else None


def change_percent(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else float("inf")
    return 100.0 * (after - before) / before


def compare(baseline: dict, current: dict, max_regression: float) -> tuple[list[str], list[str]]:
    """(table lines, regressions) for the commands both files have."""
    lines = [f"{'command':<10} " + "  ".join(f"{label:>28}" for label, _, _ in FIGURES)]
    regressions = []
    for name in [n for n in baseline if n in current]:
        cells = []
        for label, path, higher_is_better in FIGURES:
            before, after = _figure(baseline[name], path), _figure(current[name], path)
            if before is None or after is None:
                cells.append(f"{'-':>28}")
                continue
            change = change_percent(before, after)
            worse = -change if higher_is_better else change
            mark = " !" if worse > max_regression else "  "
            if worse > max_regression:
                regressions.append(f"{name} {label}: {before:g} -> {after:g} ({change:+.1f}%)")
            cells.append(f"{before:>10.3f} -> {after:>10.3f} {change:+6.1f}%{mark}"[-28:].rjust(28))
        lines.append(f"{name:<10} " + "  ".join(cells))
    return lines, regressions


def compare_files(baseline_path: str, current_path: str, max_regression: str | None, out) -> int:
    try:
        bound = float(max_regression) if max_regression is not None else DEFAULT_MAX_REGRESSION
        if bound < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"invalid --max-regression {max_regression!r} (command line): expected a percentage >= 0"
        ) from None
    baseline, current = load(baseline_path), load(current_path)
    if not set(baseline) & set(current):
        raise ConfigError(f"{baseline_path} and {current_path} have no command in common")
    lines, regressions = compare(baseline, current, bound)
    print("\n".join(lines), file=out)
    if regressions:
        print(f"regression beyond {bound:g}%: " + "; ".join(regressions), file=out)
        return ExitStatus.FAILED_CHECK
    print(f"no regression beyond {bound:g}%", file=out)
    return ExitStatus.OK
