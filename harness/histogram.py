"""Latency histograms that cost little to record and merge, laid out like HdrHistogram.

A worker thread records microseconds into a plain dict {counts index: count}, using
HdrHistogram's own bucket layout (lowest 1 us, highest 60 s, 3 significant digits), so
recording is a bit_length, two shifts and a dict update, and merging is adding dicts.
Summary reads percentiles, min, max and mean from the dict exactly as hdrh would;
to_hdr builds an hdrh HdrHistogram only for the standard compressed encoding, and
loses nothing because each index maps back to a value in the same bucket.
"""

from __future__ import annotations


from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
# For 3 significant digits HdrHistogram uses 2048 sub-buckets: half count 1024 = 2**10.
_HALF_MAGNITUDE = 10
_HALF_COUNT = 1 << _HALF_MAGNITUDE
_SUB_BUCKET_MASK = (1 << (_HALF_MAGNITUDE + 1)) - 1

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)


# Below this many microseconds a value is its own index (bucket 0 holds every value
# exactly), so the hot loop looks index_of up only above it.
EXACT_BELOW = 1 << (_HALF_MAGNITUDE + 1)


def index_of(micros: int) -> int:
    """HdrHistogram's counts index for a value (clamped to 1 us .. 60 s)."""
    if micros > HIGHEST_US:
        micros = HIGHEST_US
    bucket = (micros | _SUB_BUCKET_MASK).bit_length() - (_HALF_MAGNITUDE + 1)
    return ((bucket + 1) << _HALF_MAGNITUDE) + (micros >> bucket) - _HALF_COUNT


def value_of(index: int) -> int:
    """The lowest value that falls at `index` (inverse of index_of within a bucket)."""
    return value_at(index, _HALF_MAGNITUDE)


def record(counts: dict, micros: int, n: int = 1) -> None:
    index = index_of(micros)
    counts[index] = counts.get(index, 0) + n


def merge(into: dict, other: dict) -> None:
    for index, n in other.items():
        into[index] = into.get(index, 0) + n


def to_hdr(counts: dict) -> HdrHistogram:
    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for index, n in counts.items():
        histogram.record_value(value_of(index), n)
    return histogram


def encode(histogram: HdrHistogram) -> str:
    """The standard compressed, base64 HdrHistogram encoding (as memtier writes it)."""
    encoded = histogram.encode()
    return encoded.decode() if isinstance(encoded, bytes) else encoded


def decode(text: str) -> dict:
    """Counts in this module's layout from a standard compressed encoding (ours or
    memtier_benchmark's, whose values are microseconds too); ValueError if it is not one."""
    try:
        decoded = HdrHistogram.decode(text)
    except Exception as exc:  # noqa: BLE001 - hdrh raises many kinds on bad input
        raise ValueError(f"not a compressed HdrHistogram: {exc}") from None
    counts: dict = {}
    for item in decoded.get_recorded_iterator():
        record(counts, max(LOWEST_US, item.value_iterated_to), item.count_at_value_iterated_to)
    return counts


def index_at(micros: int, magnitude: int) -> int:
    """index_of for a layout with 2**(magnitude+1) sub-buckets (10: 3 digits, 7: 2 digits).
    index_of stays a separate copy with constants folded in: it runs once per batch."""
    micros = min(micros, HIGHEST_US)
    bucket = (micros | ((1 << (magnitude + 1)) - 1)).bit_length() - (magnitude + 1)
    return ((bucket + 1) << magnitude) + (micros >> bucket) - (1 << magnitude)


def value_at(index: int, magnitude: int) -> int:
    """value_of for the same layouts."""
    half = 1 << magnitude
    bucket = (index >> magnitude) - 1
    sub_bucket = (index & (half - 1)) + half
    if bucket < 0:
        sub_bucket -= half
        bucket = 0
    return sub_bucket << bucket


def _range_size(index: int, magnitude: int = _HALF_MAGNITUDE) -> int:
    """How many microseconds the bucket at `index` spans."""
    return 1 << max(0, (index >> magnitude) - 1)


class Summary:
    """Percentiles, min, max and mean straight from the sparse counts, computed exactly
    as hdrh's HdrHistogram reports them (highest equivalent value for percentiles and
    max, lowest for min, median equivalent for the mean) without building one: a long
    run's result file has thousands of per-second points."""

    def __init__(self, counts: dict, magnitude: int = _HALF_MAGNITUDE):
        self.items = sorted((index, n) for index, n in counts.items() if n)
        self.total = sum(n for _, n in self.items)
        self.magnitude = magnitude

    def _lowest(self, index: int) -> int:
        return value_at(index, self.magnitude)

    def _size(self, index: int) -> int:
        return _range_size(index, self.magnitude)

    def percentile(self, percentile: float) -> int:
        target = max(int(min(percentile, 100.0) * self.total / 100 + 0.5), 1)
        seen = 0
        for index, n in self.items:
            seen += n
            if seen >= target:
                lowest = self._lowest(index)
                return lowest + self._size(index) - 1 if percentile else lowest
        return 0

    def min(self) -> int:
        return self._lowest(self.items[0][0]) if self.items else 0

    def max(self) -> int:
        if not self.items:
            return 0
        index = self.items[-1][0]
        return self._lowest(index) + self._size(index) - 1

    def mean(self) -> float:
        if not self.total:
            return 0.0
        return sum((self._lowest(i) + (self._size(i) >> 1)) * n for i, n in self.items) / self.total


def summary_ms(counts: dict) -> dict:
    """min/mean/max and the usual percentiles, in milliseconds."""
    summary = Summary(counts)
    if not summary.total:
        return {"count": 0}
    result = {
        "count": summary.total,
        "min_ms": summary.min() / 1000.0,
        "mean_ms": round(summary.mean() / 1000.0, 3),
        "max_ms": summary.max() / 1000.0,
    }
    for percentile in PERCENTILES[:-1]:
        result[f"p{percentile:g}_ms"] = summary.percentile(percentile) / 1000.0
    return result


