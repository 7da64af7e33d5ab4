"""A 24-hour run stays bounded in the reporter and in the result file."""

import json

from harness import histogram
from harness.messages import Delta
from harness.reporter import MAX_SAMPLE_POINTS, MAX_SERIES_POINTS, RunState
from harness.results import all_stats
from harness.stats import CommandStats

DAY = 24 * 3600


def delta_for(second: int) -> Delta:
    stats = CommandStats()
    for command in ("GET", "SET"):
        stats.ok[command] += 1000
        counts = stats.latency.setdefault(command, {})
        for micros in (80, 120, 150, 400, 2000 + second % 700):
            histogram.record(counts, micros, 200)
    return Delta(process=0, stats=stats, until=100.0 + second + 0.5)


def test_a_day_of_deltas_keeps_the_series_and_the_file_bounded():
    state = RunState(start=100.0)
    for second in range(DAY):
        state.apply(delta_for(second))
        if second % 5 == 0:
            state.add_sample({"second": second, "processes": {}, "server": None})
    assert len(state.series) <= MAX_SERIES_POINTS and state.series_step == 32
    assert len(state.resources) <= MAX_SAMPLE_POINTS
    # nothing was lost by downsampling
    assert sum(point.count() for point in state.series.values()) == state.totals.total == DAY * 2000
    # what the reporter holds for the series stays small: flat arrays of (index, count)
    held = sum(len(pairs) * 8 for point in state.series.values() for pairs in point.latency.values())
    assert held < 2 * 2**20, held
    document = all_stats(state.totals, float(DAY), state.series, {})
    size = len(json.dumps(document))
    assert size < 10 * 2**20, size
    serie = document["GET"]["Time-Serie"]
    assert sum(entry["Count"] for entry in serie.values()) == DAY * 1000
    assert all(0.148 < entry["p50.00"] < 0.152 for entry in serie.values())  # 150 us within 1%
