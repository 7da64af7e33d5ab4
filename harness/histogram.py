"""Latency histograms that cost little to record and merge, laid out like HdrHistogram.

A worker thread records microseconds into a plain dict {counts index: count}, using
HdrHistogram's own bucket layout (lowest 1 us, highest 60 s, 3 significant digits), so
recording is a bit_length, two shifts and a dict update, and merging is adding dicts.
The reporter turns the merged dict into an hdrh HdrHistogram for percentiles and the
standard compressed encoding (see to_hdr); nothing is lost in the conversion because
each index maps back to a value in the same bucket.
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


def index_of(micros: int) -> int:
    """HdrHistogram's counts index for a value (clamped to 1 us .. 60 s)."""
    if micros > HIGHEST_US:
        micros = HIGHEST_US
    bucket = (micros | _SUB_BUCKET_MASK).bit_length() - (_HALF_MAGNITUDE + 1)
    return ((bucket + 1) << _HALF_MAGNITUDE) + (micros >> bucket) - _HALF_COUNT


def value_of(index: int) -> int:
    """The lowest value that falls at `index` (inverse of index_of within a bucket)."""
    bucket = (index >> _HALF_MAGNITUDE) - 1
    sub_bucket = (index & (_HALF_COUNT - 1)) + _HALF_COUNT
    if bucket < 0:
        sub_bucket -= _HALF_COUNT
        bucket = 0
    return sub_bucket << bucket


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


def summary_ms(histogram: HdrHistogram) -> dict:
    """min/mean/max and the usual percentiles, in milliseconds."""
    if not histogram.get_total_count():
        return {"count": 0}
    result = {
        "count": histogram.get_total_count(),
        "min_ms": histogram.get_min_value() / 1000.0,
        "mean_ms": round(histogram.get_mean_value() / 1000.0, 3),
        "max_ms": histogram.get_max_value() / 1000.0,
    }
    for percentile in PERCENTILES[:-1]:
        result[f"p{percentile:g}_ms"] = histogram.get_value_at_percentile(percentile) / 1000.0
    return result


