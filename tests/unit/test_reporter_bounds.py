"""A 24-hour run stays bounded in the reporter and in the result file."""

import json
import math
import random

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


def test_a_day_with_point_histograms_of_four_commands_stays_under_10_mb():
    """Each command's per-second point carries its compressed histogram (for exact
    merging); with a realistic spread of latencies (a few hundred distinct values per
    second) a day of basic_rw's four commands stays under 10 MB, written as the reporter
    writes it."""
    rng = random.Random(7)
    body = [max(20, int(rng.lognormvariate(math.log(250), 0.6))) for _ in range(400)]
    body += [rng.randint(2_000, 30_000) for _ in range(4)]
    commands = ("GET", "SET", "INCR", "DEL")
    state = RunState(start=100.0)
    step = 32  # a day's series has a point per 32 s (the test above): one Delta per point here
    for second in range(0, DAY, step):
        stats = CommandStats()
        for command in commands:
            counts = stats.latency.setdefault(command, {})
            for micros in body:  # every value of the spread in every point: the largest histograms
                n = rng.randint(1, 2 * step)
                histogram.record(counts, micros, n)
                stats.ok[command] += n
        state.apply(Delta(process=0, stats=stats, until=100.0 + second + 0.5))
    assert len(state.series) == DAY // step
    document = all_stats(state.totals, float(DAY), state.series, {})
    size = len(json.dumps(document, indent=2))
    histograms = sum(len(entry["Compressed Histogram"]) for command in commands
                     for entry in document[command]["Time-Serie"].values())
    points = sum(len(document[command]["Time-Serie"]) for command in commands)
    print(f"a day of 4 commands: {size:,} bytes, {histograms:,} of them point histograms "
          f"({histograms / points:.0f} B per point, {points:,} points)")
    assert size < 10 * 2**20, size
    decoded = histogram.decode(document["GET"]["Time-Serie"]["0"]["Compressed Histogram"])
    assert decoded.get_total_count() == document["GET"]["Time-Serie"]["0"]["Count"]
