"""Prepared values: random bytes made once, picked by the configured size mix.

Values are cut from random bytes when the workload is built and kept only encoded, as
RESP bulk strings, so the hot loop never creates a value (and a large value is held
once); which one an operation uses is drawn many at a time.
"""

from __future__ import annotations

import numpy as np

from workloads.fragments import Fragments

from harness.parsers import SizeChoice

# How many distinct prepared values a workload holds per size choice with a range.
VALUES_PER_CHOICE = 64


class ValuePool:
    def __init__(self, choices: tuple[SizeChoice, ...], rng: np.random.Generator):
        bulks: list[bytes] = []
        weights: list[float] = []
        for choice in choices:
            count = 1 if choice.low == choice.high else VALUES_PER_CHOICE
            for size in rng.integers(choice.low, choice.high + 1, count).tolist():
                bulks.append(b"$%d\r\n%b\r\n" % (size, rng.bytes(size)))
                weights.append(choice.weight / count)
        self.fragments = Fragments(bulks)
        self.largest = max(choice.high for choice in choices)
        self._rng = rng
        cumulative = np.cumsum(weights)
        self._cumulative = cumulative / cumulative[-1]

    def take(self, n: int, present=None) -> tuple[np.ndarray, np.ndarray]:
        """A column of n encoded values, by the configured weights (empty where
        `present` is False)."""
        return self.fragments.take(self.picks(n), present)

    def picks(self, n: int) -> np.ndarray:
        """n value numbers (indexes into the fragments table), by the configured weights."""
        if len(self.fragments) == 1:
            return np.zeros(n, dtype=np.int64)
        picks = np.searchsorted(self._cumulative, self._rng.random(n), side="right")
        return np.minimum(picks, len(self.fragments) - 1)

    def value(self, pick: int) -> bytes:
        """Value number `pick`, not encoded (a copy: for preload and templates that embed
        a value in a longer argument)."""
        encoded = self.fragments.items[pick]
        return encoded[encoded.index(b"\r\n") + 2:-2]

    def next_value(self) -> bytes:
        """One value, not encoded (preload)."""
        return self.value(self.picks(1)[0])
