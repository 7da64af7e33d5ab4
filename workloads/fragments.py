"""Encoded command fragments in numpy object arrays: what a workload's draw is made of.

A column of n fragments for n operations (n key names, n values, n command heads) is
one fancy index into a table, and its request bytes another; nothing is put together
per operation in Python (see workloads.base: Drawn).
"""

from __future__ import annotations

import numpy as np


class Fragments:
    """A table of encoded command fragments (heads, key names, values, members, literal
    arguments) as a numpy object array, with their lengths, so that n fragments for n
    operations are one fancy index. Index -1 is the empty fragment (b""): the column of
    an argument that some commands of a draw do not have."""

    __slots__ = ("items", "lengths")

    def __init__(self, pieces: list[bytes]):
        self.items = np.empty(len(pieces) + 1, dtype=object)
        self.items[:-1] = pieces
        self.items[-1] = b""
        self.lengths = np.fromiter(map(len, self.items), dtype=np.int64, count=len(self.items))

    def __len__(self) -> int:
        return len(self.items) - 1

    def take(self, indexes, present=None) -> tuple[np.ndarray, np.ndarray]:
        """A column: the fragments at these indexes and their lengths; where `present`
        is False, the empty fragment."""
        if present is not None:
            indexes = np.where(present, indexes, -1)
        return self.items[indexes], self.lengths[indexes]


def loose(pieces: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """A column of fragments made one per operation (not from a table)."""
    items = np.empty(len(pieces), dtype=object)
    items[:] = pieces
    return items, np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
