"""What `harness compare` prints: a table that fits the terminal, or JSON for scripts.

The table's columns are as wide as their widest cell, so nothing is cut. When the
per-second spread columns do not fit the terminal they are left out (the verdict still
used them) and a note says so; `--format json` always holds everything.
"""

from __future__ import annotations

import json
import shutil

from harness.compare import DEFAULT_MAX_REGRESSION, Row, Spread, compare, load, parse_bound
from harness.errors import ConfigError, ExitStatus

FORMATS = ("table", "json")
GAP = "  "


def _value(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _change(row: Row) -> str:
    if row.change is None:
        return "-" if row.verdict == "missing" else "from 0"
    return f"{row.change:+.1f}%"


def _spread(spread: Spread | None, decimals: int) -> str:
    return "-" if spread is None else f"{spread.q1:,.{decimals}f}..{spread.q3:,.{decimals}f}"


def _layout(cells: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    return [GAP.join(cell.rjust(w) if i in right else cell.ljust(w)
                     for i, (cell, w) in enumerate(zip(line, widths))).rstrip() for line in cells]


HEADER = ["command", "figure", "baseline", "current", "change", "base 25-75%", "cur 25-75%", "verdict"]


def cells(rows: list[Row]) -> list[list[str]]:
    """The table's cells under HEADER, as the terminal and the HTML page show them."""
    return [
        [row.command, row.figure.label, _value(row.baseline, row.figure.decimals),
         _value(row.current, row.figure.decimals), _change(row),
         _spread(row.baseline_spread, row.figure.decimals), _spread(row.current_spread, row.figure.decimals),
         row.verdict]
        for row in rows
    ]


def table(rows: list[Row], width: int) -> list[str]:
    cells_ = [HEADER] + cells(rows)
    lines = _layout(cells_, right={2, 3, 4, 5, 6})
    if max(map(len, lines)) <= width:
        return lines + ["(25-75%: the middle half of each run's per-second values)"]
    narrow = [line[:5] + line[7:] for line in cells_]
    return _layout(narrow, right={2, 3, 4}) + [
        f"(per-second spread columns left out to fit {width} columns; --format json has them)"]


def verdict_line(rows: list[Row], bound: float) -> str:
    regressions = [row for row in rows if row.verdict == "REGRESSION"]
    noise = [row for row in rows if row.verdict == "noise"]
    if regressions:
        return f"regression beyond {bound:g}%: " + "; ".join(
            f"{row.command} {row.figure.label} {_change(row)}" for row in regressions)
    text = f"no regression beyond {bound:g}%"
    if noise:
        text += " and the runs' own spread (" + ", ".join(
            f"{row.command} {row.figure.label} {_change(row)}" for row in noise) + " within it)"
    return text


def _spread_json(spread: Spread | None):
    return None if spread is None else {"q1": spread.q1, "q3": spread.q3, "points": spread.points}


def document(rows: list[Row], bound: float, baseline: dict, current: dict) -> dict:
    return {
        "max_regression_percent": bound,
        "regression": any(row.verdict == "REGRESSION" for row in rows),
        "figures": [
            {"command": row.command, "figure": row.figure.label, "baseline": row.baseline,
             "current": row.current, "change_percent": row.change,
             "baseline_spread": _spread_json(row.baseline_spread),
             "current_spread": _spread_json(row.current_spread), "verdict": row.verdict}
            for row in rows
        ],
        "only_in_baseline": [name for name in baseline if name not in current],
        "only_in_current": [name for name in current if name not in baseline],
    }


def only_lines(baseline: dict, current: dict) -> list[str]:
    """The commands that one file has and the other does not."""
    return [f"only in {which}: {', '.join(names)}" for which, names in
            (("baseline", [n for n in baseline if n not in current]),
             ("current", [n for n in current if n not in baseline])) if names]


def compare_files(baseline_path: str, current_path: str, max_regression: str | None, out,
                  output_format: str | None = None, width: int | None = None, html_path: str | None = None) -> int:
    bound = parse_bound(max_regression)
    output_format = output_format or "table"
    if output_format not in FORMATS:
        raise ConfigError(f"invalid --format {output_format!r} (command line): expected table or json")
    baseline, current = load(baseline_path), load(current_path)
    if not set(baseline) & set(current):
        raise ConfigError(f"{baseline_path} and {current_path} have no command in common")
    rows = compare(baseline, current, bound)
    if html_path:  # before the table: a path that cannot be written is one line and exit 2, as bad input is
        from harness.compare_html import write_compare_page

        write_compare_page(html_path, baseline_path, current_path, rows, verdict_line(rows, bound),
                           only_lines(baseline, current))
    failed = any(row.verdict == "REGRESSION" for row in rows)
    if output_format == "json":
        print(json.dumps(document(rows, bound, baseline, current), indent=2), file=out)
    else:
        width = width or shutil.get_terminal_size((100, 24)).columns
        for line in table(rows, width):
            print(line, file=out)
        for line in only_lines(baseline, current):
            print(line, file=out)
        print(verdict_line(rows, bound), file=out)
    if html_path and output_format == "table":  # JSON on stdout stays JSON alone
        print(f"report file: {html_path}", file=out)
    return ExitStatus.FAILED_CHECK if failed else ExitStatus.OK


__all__ = ["compare_files", "DEFAULT_MAX_REGRESSION", "FORMATS"]
