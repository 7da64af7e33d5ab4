"""Key distributions over 100,000 draws against their expected shapes."""

import math
import random
from collections import Counter

import numpy as np

from harness.settings import resolve
from workloads.keys import make_picker, owned_count
from workloads.values import ValuePool

DRAWS = 100_000


def config(**options):
    return resolve(None, {}, {key: str(value) for key, value in options.items()})


def draw(picker, n=DRAWS):
    """n draws, taken in uneven blocks as the workloads take them."""
    values, sizes = [], [1, 16, 4096, 777]
    while len(values) < n:
        values += picker.draw(min(sizes[len(values) % 4], n - len(values))).tolist()
    return values


def rng(seed):
    return np.random.default_rng(seed)


def chi_square_critical(df: int, z: float = 3.09) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile (z = 3.09: p = 0.001)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def test_uniform_is_flat():
    picker = make_picker(config(key_distribution="uniform", keyspace=10_000), rng(1))
    bins = Counter(index * 100 // 10_000 for index in draw(picker))
    expected = DRAWS / 100
    statistic = sum((bins[b] - expected) ** 2 / expected for b in range(100))
    assert statistic < chi_square_critical(99)
    # and it is not trivially flat: a skewed sample fails the same check
    skewed = Counter(min(99, int(random.Random(2).expovariate(0.05))) for _ in range(DRAWS))
    assert sum((skewed[b] - expected) ** 2 / expected for b in range(100)) > chi_square_critical(99)


def test_sequential_covers_the_keyspace_exactly_once_per_pass_across_threads():
    keyspace, threads = 10_007, 6
    cfg = config(key_distribution="sequential", keyspace=keyspace)
    seen = []
    for thread in range(threads):
        picker = make_picker(cfg, rng(thread), thread, threads)
        seen += draw(picker, owned_count(keyspace, thread, threads))
    assert sorted(seen) == list(range(keyspace))
    # the next pass starts again at each thread's first key
    picker = make_picker(cfg, rng(0), 2, threads)
    first_pass = draw(picker, owned_count(keyspace, 2, threads))
    assert picker.draw(1)[0] == first_pass[0] == 2


def test_gaussian_quantiles():
    picker = make_picker(config(key_distribution="gaussian", keyspace=100_000, key_median=30_000,
                                key_stddev=5_000), rng(3))
    values = sorted(draw(picker))
    def quantile(q):
        return values[int(q * (len(values) - 1))]
    assert abs(quantile(0.5) - 30_000) < 150
    assert abs(quantile(0.1587) - 25_000) < 200  # one standard deviation below
    assert abs(quantile(0.8413) - 35_000) < 200


def test_gaussian_defaults_to_the_middle():
    picker = make_picker(config(key_distribution="gaussian", keyspace=6_000), rng(4))
    values = sorted(draw(picker))
    assert abs(values[DRAWS // 2] - 3_000) < 30


def test_zipfian_follows_its_exponent():
    keyspace, exponent = 10_000, 0.99
    picker = make_picker(config(key_distribution="zipfian", keyspace=keyspace, zipf_exponent=exponent),
                         rng(5))
    counts = Counter(draw(picker))
    harmonic = sum(1 / k**exponent for k in range(1, keyspace + 1))
    for rank in (1, 2, 10, 100):
        expected = DRAWS / (rank**exponent) / harmonic
        observed = counts[rank - 1]
        assert abs(observed - expected) < 4 * math.sqrt(expected) + 1, (rank, observed, expected)
    top_ten = sum(counts[i] for i in range(10))
    assert abs(top_ten / DRAWS - sum(1 / k**exponent for k in range(1, 11)) / harmonic) < 0.01


def test_owned_keys_are_disjoint_per_thread():
    cfg = config(key_distribution="uniform", keyspace=1_000)
    owned = [set(draw(make_picker(cfg, rng(t), t, 4, owns_keys=True), 20_000)) for t in range(4)]
    assert all(index % 4 == t for t, keys in enumerate(owned) for index in keys)
    assert sum(len(keys) for keys in owned) == 1_000


def test_weighted_value_sizes():
    pool = ValuePool(config(value_size="32:70,1024:25,65536:5").value_size, rng(6))
    sizes = Counter(len(pool.value(pick)) for pick in pool.picks(20_000))
    assert set(sizes) == {32, 1024, 65536}
    assert abs(sizes[32] / 20_000 - 0.70) < 0.02 and abs(sizes[65536] / 20_000 - 0.05) < 0.01
    ranged = ValuePool(config(value_size="100-200").value_size, rng(7))
    lengths = {len(ranged.value(pick)) for pick in ranged.picks(2_000)}
    assert min(lengths) >= 100 and max(lengths) <= 200 and len(lengths) > 20
