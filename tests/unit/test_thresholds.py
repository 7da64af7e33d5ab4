import pytest

from harness import histogram, thresholds
from harness.stats import CommandStats


def stats_with(latencies_us: dict, ok: dict, errors: dict | None = None) -> CommandStats:
    stats = CommandStats()
    for command, values in latencies_us.items():
        counts = stats.latency.setdefault(command, {})
        for value in values:
            histogram.record(counts, value)
    stats.ok.update(ok)
    stats.errors.update(errors or {})
    return stats


@pytest.mark.parametrize("text, command, metric, op, bound", [
    ("p99_ms < 2", None, "p99_ms", "<", 2.0),
    ("p99_9_ms<10", None, "p99_9_ms", "<", 10.0),
    ("error_rate < 0.001", None, "error_rate", "<", 0.001),
    ("ops_per_sec > 20000", None, "ops_per_sec", ">", 20000.0),
    ("pubsub_loss == 0", None, "pubsub_loss", "==", 0.0),
    ("get.p99_ms <= 1", "GET", "p99_ms", "<=", 1.0),
    ("CLIENT|LIST.count >= 5", "CLIENT|LIST", "count", ">=", 5.0),
])
def test_every_form_parses(text, command, metric, op, bound):
    parsed = thresholds.parse(text)
    assert (parsed.command, parsed.metric, parsed.op, parsed.bound) == (command, metric, op, bound)


@pytest.mark.parametrize("text, message", [
    ("p99 < 2", "unknown threshold metric 'p99'"),
    ("GET.pubsub_loss == 0", "unknown threshold metric 'pubsub_loss' per command"),
    ("p99_ms ~ 2", "cannot read threshold"),
    ("p99_ms < fast", "cannot read threshold"),
])
def test_bad_thresholds_say_what_is_allowed(text, message):
    with pytest.raises(ValueError, match=message):
        thresholds.parse(text)


def test_measure_and_evaluate():
    stats = stats_with({"GET": [100] * 98 + [5000, 9000], "SET": [200] * 100},
                       ok={"GET": 100, "SET": 99}, errors={("SET", "OOM"): 1})
    facts = thresholds.Facts(stats, seconds=2.0, pubsub={"lost": 3, "expected": 300, "out_of_order": 0})
    def value(text):
        return thresholds.measure(thresholds.parse(text), facts)
    assert value("GET.p50_ms < 1") == pytest.approx(0.1, abs=0.001)
    assert value("GET.max_ms < 1") == pytest.approx(9.0, rel=0.001)
    assert value("errors < 1") == 1 and value("SET.error_rate < 1") == pytest.approx(0.01)
    assert value("ops_per_sec > 1") == pytest.approx(100.0)
    assert value("pubsub_loss == 0") == 3 and value("pubsub_loss_rate < 1") == pytest.approx(0.01)
    verdicts = thresholds.evaluate([thresholds.parse("GET.p99_ms < 6"), thresholds.parse("errors == 0")], facts)
    assert [v["passed"] for v in verdicts] == [True, False]
    assert verdicts[1] == {"threshold": "errors == 0", "measured": 1, "passed": False}


def test_cannot_pass_only_for_figures_that_cannot_improve():
    stats = stats_with({"GET": [20_000]}, ok={"GET": 10}, errors={("GET", "OOM"): 5})
    facts = thresholds.Facts(stats, seconds=1.0, planned_requests=100)
    def lost(text):
        return thresholds.cannot_pass(thresholds.parse(text), facts)
    assert lost("errors < 5") and lost("max_ms < 10") and lost("error_rate < 0.01")
    assert not lost("p99_ms < 10")  # a percentile can still come down
    assert not lost("ops_per_sec > 1000000")  # and a rate can still rise
    assert not lost("errors < 6")
