"""Key pickers: which key index in [0, keyspace) the next operation uses.

Runs in the worker threads; each thread owns its picker and its random.Random, so no
lock is shared. Partitions (Rally's partition(index, total) idea): a thread's picker is
made for its share of the keyspace where the distribution or the workload needs one:
- sequential: thread g of G walks g, g+G, g+2G, ... so all threads together cover the
  keyspace exactly once per pass;
- owned keys (workloads that keep per-key state, such as bounded list lengths): thread
  g draws from the distribution over its own keys g, g+G, ... only.
Otherwise every thread draws from the whole keyspace.
"""

from __future__ import annotations

import bisect
import itertools
import random
from array import array


class KeyPicker:
    def __init__(self, size: int, rng: random.Random):
        self.size = size
        self.rng = rng

    def next_index(self) -> int:
        raise NotImplementedError


class Uniform(KeyPicker):
    def next_index(self) -> int:
        return self.rng.randrange(self.size)


class Sequential(KeyPicker):
    def __init__(self, size: int, rng: random.Random, start: int = 0, step: int = 1):
        super().__init__(size, rng)
        self._indexes = itertools.cycle(range(start, size, step)) if start < size else None

    def next_index(self) -> int:
        if self._indexes is None:  # more threads than keys: this one owns none, so reuse 0
            return 0
        return next(self._indexes)


class Gaussian(KeyPicker):
    """Normal around `median` with `stddev`, clipped to the keyspace."""

    def __init__(self, size: int, rng: random.Random, median: float, stddev: float):
        super().__init__(size, rng)
        self.median = median
        self.stddev = stddev

    def next_index(self) -> int:
        index = int(round(self.rng.gauss(self.median, self.stddev)))
        return min(max(index, 0), self.size - 1)


_ZIPF_TABLES: dict[tuple[int, float], array] = {}


def zipf_table(size: int, exponent: float) -> array:
    """Cumulative weights 1/k**s for k = 1..size, built once per process and shared
    read-only by its threads (8 bytes a key)."""
    table = _ZIPF_TABLES.get((size, exponent))
    if table is None:
        table = array("d", itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, size + 1)))
        _ZIPF_TABLES[(size, exponent)] = table
    return table


class Zipfian(KeyPicker):
    """P(rank k) proportional to 1 / k**exponent; index 0 is the hottest key."""

    def __init__(self, size: int, rng: random.Random, exponent: float):
        super().__init__(size, rng)
        self._cumulative = zipf_table(size, exponent)
        self._total = self._cumulative[-1]

    def next_index(self) -> int:
        point = self.rng.random() * self._total
        return min(bisect.bisect_right(self._cumulative, point), self.size - 1)


class Strided(KeyPicker):
    """Maps an inner picker over [0, n) onto the owned keys start, start+step, ..."""

    def __init__(self, inner: KeyPicker, start: int, step: int):
        super().__init__(inner.size, inner.rng)
        self.inner, self.start, self.step = inner, start, step

    def next_index(self) -> int:
        return self.start + self.inner.next_index() * self.step


def owned_count(keyspace: int, partition: int, partitions: int) -> int:
    return max(0, (keyspace - partition + partitions - 1) // partitions)


def make_picker(config, rng: random.Random, partition: int = 0, partitions: int = 1,
                owns_keys: bool = False) -> KeyPicker:
    keyspace = config.keyspace
    if config.key_distribution == "sequential":
        return Sequential(keyspace, rng, start=partition, step=partitions)
    size = keyspace
    if owns_keys:
        size = max(1, owned_count(keyspace, partition, partitions))
    picker = _base_picker(config, size, keyspace, rng)
    if owns_keys and partitions > 1:
        return Strided(picker, partition, partitions) if partition < keyspace else Strided(picker, 0, 1)
    return picker


def _base_picker(config, size: int, keyspace: int, rng: random.Random) -> KeyPicker:
    distribution = config.key_distribution
    if distribution == "uniform":
        return Uniform(size, rng)
    if distribution == "gaussian":
        scale = size / keyspace  # an owned share keeps the shape, shrunk to its size
        median = (keyspace / 2 if config.key_median is None else config.key_median) * scale
        stddev = (keyspace / 6 if config.key_stddev is None else config.key_stddev) * scale
        return Gaussian(size, rng, median, max(stddev, 1e-9))
    if distribution == "zipfian":
        return Zipfian(size, rng, config.zipf_exponent)
    raise ValueError(f"unknown key distribution {distribution!r}")
