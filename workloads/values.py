"""Prepared values: random bytes made once, picked by the configured size mix.

Values are slices (memoryview-free bytes objects) cut from one random block when the
workload is built, so the hot loop never creates a value.
"""

from __future__ import annotations

import random

from harness.parsers import SizeChoice

# How many distinct prepared values a workload holds per size choice.
VALUES_PER_CHOICE = 64


class ValuePool:
    def __init__(self, choices: tuple[SizeChoice, ...], rng: random.Random):
        self._values: list[bytes] = []
        self._weights: list[float] = []
        for choice in choices:
            count = 1 if choice.low == choice.high else VALUES_PER_CHOICE
            for _ in range(count):
                size = rng.randint(choice.low, choice.high)
                self._values.append(rng.randbytes(size))
                self._weights.append(choice.weight / count)
        self._rng = rng
        self._single = self._values[0] if len(self._values) == 1 else None

    def next_value(self) -> bytes:
        if self._single is not None:
            return self._single
        return self._rng.choices(self._values, self._weights)[0]
