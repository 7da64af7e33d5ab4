"""Key pickers: which key index in [0, keyspace) the next operation uses.

Runs in the worker threads; each thread owns its picker and its random.Random, so no
lock is shared. `partition(index, total)` gives a thread its share where the
distribution needs one (sequential: disjoint stripes that together cover the keyspace).
"""

from __future__ import annotations

import bisect
import itertools
import random


class KeyPicker:
    def __init__(self, keyspace: int, rng: random.Random):
        self.keyspace = keyspace
        self.rng = rng

    def next_index(self) -> int:
        raise NotImplementedError

    def partition(self, index: int, total: int) -> "KeyPicker":
        """The picker for partition `index` of `total`; most distributions share all keys."""
        return self


class Uniform(KeyPicker):
    def next_index(self) -> int:
        return self.rng.randrange(self.keyspace)


class Sequential(KeyPicker):
    """0, 1, 2, ... wrapping; partition i of n walks i, i+n, i+2n, ..."""

    def __init__(self, keyspace: int, rng: random.Random, start: int = 0, step: int = 1):
        super().__init__(keyspace, rng)
        self._indexes = itertools.cycle(range(start, keyspace, step)) if start < keyspace else None

    def next_index(self) -> int:
        if self._indexes is None:  # more partitions than keys: this one owns none
            return self.rng.randrange(self.keyspace)
        return next(self._indexes)

    def partition(self, index: int, total: int) -> "KeyPicker":
        return Sequential(self.keyspace, self.rng, start=index, step=total)


class Gaussian(KeyPicker):
    """Normal around `median` (default the middle) with `stddev` (default keyspace/6)."""

    def __init__(self, keyspace: int, rng: random.Random, median=None, stddev=None):
        super().__init__(keyspace, rng)
        self.median = keyspace / 2 if median is None else median
        self.stddev = keyspace / 6 if stddev is None else stddev

    def next_index(self) -> int:
        index = int(round(self.rng.gauss(self.median, self.stddev)))
        return min(max(index, 0), self.keyspace - 1)


class Zipfian(KeyPicker):
    """P(rank k) proportional to 1 / k**exponent; key 0 is the hottest."""

    def __init__(self, keyspace: int, rng: random.Random, exponent: float = 0.99):
        super().__init__(keyspace, rng)
        weights = (1.0 / (rank**exponent) for rank in range(1, keyspace + 1))
        self._cumulative = list(itertools.accumulate(weights))

    def next_index(self) -> int:
        point = self.rng.random() * self._cumulative[-1]
        return min(bisect.bisect_right(self._cumulative, point), self.keyspace - 1)


DISTRIBUTIONS = {
    "uniform": Uniform,
    "sequential": Sequential,
    "gaussian": Gaussian,
    "zipfian": Zipfian,
}


def make_picker(distribution: str, keyspace: int, rng: random.Random) -> KeyPicker:
    return DISTRIBUTIONS[distribution](keyspace, rng)
