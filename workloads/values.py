"""Prepared values: random bytes made once, picked by the configured size mix.

Values are cut from random bytes when the workload is built and kept encoded as RESP
bulk strings, so the hot loop never creates a value; which one an operation uses is
drawn many at a time.
"""

from __future__ import annotations

import numpy as np

from harness.parsers import SizeChoice

# How many distinct prepared values a workload holds per size choice with a range.
VALUES_PER_CHOICE = 64


class ValuePool:
    def __init__(self, choices: tuple[SizeChoice, ...], rng: np.random.Generator):
        values: list[bytes] = []
        weights: list[float] = []
        for choice in choices:
            count = 1 if choice.low == choice.high else VALUES_PER_CHOICE
            for size in rng.integers(choice.low, choice.high + 1, count).tolist():
                values.append(rng.bytes(size))
                weights.append(choice.weight / count)
        self.values = values
        self.bulks = [b"$%d\r\n%b\r\n" % (len(value), value) for value in values]
        self.largest = max(len(value) for value in values)
        self._rng = rng
        self._single = self.bulks[0] if len(values) == 1 else None
        cumulative = np.cumsum(weights)
        self._cumulative = cumulative / cumulative[-1]

    def draw(self, n: int) -> list[bytes]:
        """n encoded values, by the configured weights."""
        if self._single is not None:
            return [self._single] * n
        bulks = self.bulks
        return [bulks[pick] for pick in self.picks(n)]

    def picks(self, n: int) -> list[int]:
        """n value numbers (indexes into values and bulks), by the configured weights."""
        if len(self.values) == 1:
            return [0] * n
        picks = np.searchsorted(self._cumulative, self._rng.random(n), side="right")
        return np.minimum(picks, len(self.values) - 1).tolist()

    def next_value(self) -> bytes:
        """One raw value (preload)."""
        if len(self.values) == 1:
            return self.values[0]
        pick = int(np.searchsorted(self._cumulative, self._rng.random(), side="right"))
        return self.values[min(pick, len(self.values) - 1)]
