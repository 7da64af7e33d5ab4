import random

from hdrh.histogram import HdrHistogram

from harness import histogram


def test_index_layout_matches_hdrhistogram():
    reference = HdrHistogram(1, 60_000_000, 3)
    rng = random.Random(7)
    values = [1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 123456, 59_999_999, 60_000_000]
    values += [rng.randint(1, 60_000_000) for _ in range(2000)]
    for value in values:
        index = histogram.index_of(value)
        assert index == reference._counts_index_for(value), value
        assert reference._counts_index_for(histogram.value_of(index)) == index


def test_percentiles_survive_conversion_and_encoding():
    counts = {}
    rng = random.Random(3)
    values = [int(rng.lognormvariate(5, 1)) + 1 for _ in range(50_000)]
    for value in values:
        histogram.record(counts, value)
    direct = HdrHistogram(1, 60_000_000, 3)
    for value in values:
        direct.record_value(value)
    converted = histogram.to_hdr(counts)
    assert converted.get_total_count() == 50_000
    for percentile in (50, 99, 99.9):
        assert converted.get_value_at_percentile(percentile) == direct.get_value_at_percentile(percentile)
    decoded = HdrHistogram.decode(histogram.encode(converted))
    assert decoded.get_total_count() == 50_000
    assert decoded.get_value_at_percentile(99) == direct.get_value_at_percentile(99)


def test_values_beyond_the_top_are_clamped_and_merge_adds():
    a, b = {}, {}
    histogram.record(a, 10, 3)
    histogram.record(b, 10)
    histogram.record(b, 10**9)
    histogram.merge(a, b)
    hdr = histogram.to_hdr(a)
    assert hdr.get_total_count() == 5
    assert 59_000_000 < hdr.get_max_value() <= 60_100_000


def test_summary_reports_exactly_what_hdrhistogram_reports():
    rng = random.Random(11)
    for _ in range(20):
        counts = {}
        for _ in range(rng.randint(1, 3000)):
            histogram.record(counts, int(rng.lognormvariate(6, 1.5)) + rng.randint(0, 3), rng.randint(1, 5))
        reference = histogram.to_hdr(counts)
        summary = histogram.Summary(counts)
        assert summary.total == reference.get_total_count()
        for percentile in (0, 1, 50, 90, 99, 99.9, 99.99, 100):
            assert summary.percentile(percentile) == reference.get_value_at_percentile(percentile), percentile
        assert summary.min() == reference.get_min_value() and summary.max() == reference.get_max_value()
        assert abs(summary.mean() - reference.get_mean_value()) < 1e-6 * max(1.0, summary.mean())


def test_two_digit_layout_matches_hdrhistogram_with_two_digits():
    reference = HdrHistogram(1, 60_000_000, 2)
    rng = random.Random(5)
    for value in [1, 127, 128, 255, 256, 1000, 59_999_999] + [rng.randint(1, 60_000_000) for _ in range(1000)]:
        assert histogram.index_at(value, 7) == reference._counts_index_for(value), value
    counts = {}
    for _ in range(5000):
        index = histogram.index_at(int(rng.lognormvariate(6, 1)) + 1, 7)
        counts[index] = counts.get(index, 0) + 1
    for index, n in counts.items():
        reference.record_value(histogram.value_at(index, 7), n)
    summary = histogram.Summary(counts, 7)
    for percentile in (50, 99, 99.9):
        assert summary.percentile(percentile) == reference.get_value_at_percentile(percentile)
