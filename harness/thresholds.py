"""Pass/fail checks on what a run measured: `p99_ms < 2`, `GET.p99_ms < 1`,
`error_rate < 0.001`, `ops_per_sec > 20000`, `pubsub_loss == 0`.

Pure: parse() turns text into a Threshold; measure() reads one figure from the run's
Facts; evaluate() gives each threshold's measured value and verdict; cannot_pass()
says whether a threshold is already lost mid-run (for abort_on_fail), which is only
ever true for figures that cannot get better: counts that only grow and the maximum.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

from harness import histogram
from harness.stats import CommandStats

OPERATORS = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
PERCENTILE_METRICS = {
    "p50_ms": 50.0, "p90_ms": 90.0, "p95_ms": 95.0, "p99_ms": 99.0, "p99_9_ms": 99.9, "p99_99_ms": 99.99,
}
COMMAND_METRICS = (*PERCENTILE_METRICS, "max_ms", "mean_ms", "errors", "error_rate", "ops_per_sec", "count")
RUN_METRICS = (*COMMAND_METRICS, "pubsub_loss", "pubsub_loss_rate", "out_of_order", "lag_s")
_EXPRESSION = re.compile(r"^\s*(?:([A-Za-z][\w|]*)\.)?([a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:e-?\d+)?)\s*$")


@dataclass(frozen=True)
class Threshold:
    text: str
    command: str | None
    metric: str
    op: str
    bound: float

    def passes(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.bound)


def parse(text: str) -> Threshold:
    match = _EXPRESSION.match(text)
    if not match:
        raise ValueError(f"cannot read threshold {text.strip()!r}: write METRIC OP NUMBER, e.g. 'p99_ms < 2' "
                         "or 'GET.p99_ms < 1'")
    command, metric, op, bound = match.groups()
    allowed = COMMAND_METRICS if command else RUN_METRICS
    if metric not in allowed:
        scope = f"per command ({command}.)" if command else "for the run"
        raise ValueError(f"unknown threshold metric {metric!r} {scope}: use one of {', '.join(allowed)}")
    try:
        number = float(bound)
    except ValueError:
        raise ValueError(f"threshold {text.strip()!r}: {bound!r} is not a number") from None
    return Threshold(" ".join(text.split()), command.upper() if command else None, metric, op, number)


@dataclass
class Facts:
    """The figures thresholds are checked against."""

    stats: CommandStats
    seconds: float
    pubsub: dict | None = None
    max_lag: float = 0.0
    planned_requests: int = 0  # the run's `requests`, for deciding early that a rate is lost
    _cache: dict = field(default_factory=dict)


def measure(threshold: Threshold, facts: Facts) -> float:
    stats, command, metric = facts.stats, threshold.command, threshold.metric
    if metric.startswith("pubsub") or metric == "out_of_order":
        pubsub = facts.pubsub or {"lost": 0, "expected": 0, "out_of_order": 0}
        if metric == "pubsub_loss":
            return pubsub["lost"]
        if metric == "out_of_order":
            return pubsub["out_of_order"]
        return pubsub["lost"] / pubsub["expected"] if pubsub["expected"] else 0.0
    if metric == "lag_s":
        return facts.max_lag
    count = stats.count_of(command) if command else stats.total
    errors = stats.errors_of(command) if command else stats.total_errors
    if metric == "count":
        return count
    if metric == "errors":
        return errors
    if metric == "error_rate":
        return errors / count if count else 0.0
    if metric == "ops_per_sec":
        return count / facts.seconds if facts.seconds > 0 else 0.0
    summary = _summary(facts, command)
    if not summary.total:
        return 0.0
    if metric == "max_ms":
        return summary.max() / 1000
    if metric == "mean_ms":
        return summary.mean() / 1000
    return summary.percentile(PERCENTILE_METRICS[metric]) / 1000


def _summary(facts: Facts, command: str | None) -> histogram.Summary:
    if command not in facts._cache:
        counts = facts.stats.latency_of(command) if command else facts.stats.all_latency()
        facts._cache[command] = histogram.Summary(counts)
    return facts._cache[command]


def evaluate(thresholds, facts: Facts) -> list[dict]:
    results = []
    for threshold in thresholds:
        value = measure(threshold, facts)
        results.append({"threshold": threshold.text, "measured": round(value, 6), "passed": threshold.passes(value)})
    return results


def cannot_pass(threshold: Threshold, facts: Facts) -> bool:
    """True when the run so far already decides a failure, whatever comes next."""
    if threshold.op not in ("<", "<="):
        return False
    if threshold.metric in ("errors", "count", "max_ms", "pubsub_loss", "out_of_order"):
        return not threshold.passes(measure(threshold, facts))  # these only grow
    if threshold.metric == "error_rate" and facts.planned_requests:
        errors = facts.stats.errors_of(threshold.command) if threshold.command else facts.stats.total_errors
        return not threshold.passes(errors / facts.planned_requests)  # the best rate still possible
    return False
