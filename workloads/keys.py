"""Key pickers and key names: which key indexes in [0, keyspace) the next operations
use, drawn many at a time, and their encodings.

Runs in the worker threads; each thread owns its pickers and its numpy Generator, so
nothing is shared between threads. Draws are fresh for the whole run: nothing drawn is
replayed, so a uniform run touches keys exactly as independent draws would.

Partitions (Rally's partition(index, total) idea): a thread's picker is made for its
share of the keyspace where the distribution or the workload needs one:
- sequential: thread g of G walks g, g+G, g+2G, ... so all threads together cover the
  keyspace exactly once per pass;
- owned keys (workloads that keep per-key state, such as bounded list lengths): thread
  g draws from the distribution over its own keys g, g+G, ... only.
Otherwise every thread draws from the whole keyspace. In a sharded run (harness/shards.py)
both shares are taken inside the shard's contiguous slice [low, high) of the keyspace:
thread g walks or owns low+g, low+g+G, ... below high.
"""

from __future__ import annotations

import functools

import numpy as np

from workloads.fragments import Fragments


class KeyPicker:
    """draw(n): the next n key indexes, as a numpy int64 array: start + k * step for
    k in [0, size) (a share of the keyspace: see Strided)."""

    start, step = 0, 1

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = size
        self.rng = rng

    def draw(self, n: int) -> np.ndarray:
        raise NotImplementedError


class Uniform(KeyPicker):
    def draw(self, n: int) -> np.ndarray:
        return self.rng.integers(0, self.size, n)


class Sequential(KeyPicker):
    """start, start+step, ... below size, then again from start."""

    def __init__(self, size: int, rng: np.random.Generator, start: int = 0, step: int = 1):
        super().__init__(size, rng)
        self.start, self.step = start, step  # (size is where the slice ends here, count the share)
        self.count = owned_count(size, start, step) if start < size else 0
        self.position = 0

    def draw(self, n: int) -> np.ndarray:
        if not self.count:  # more threads than keys: this one owns none, so reuse 0
            return np.zeros(n, dtype=np.int64)
        steps = (self.position + np.arange(n, dtype=np.int64)) % self.count
        self.position = (self.position + n) % self.count
        return self.start + steps * self.step


class Gaussian(KeyPicker):
    """Normal around `median` with `stddev`, rounded and clipped to the keyspace."""

    def __init__(self, size: int, rng: np.random.Generator, median: float, stddev: float):
        super().__init__(size, rng)
        self.median = median
        self.stddev = stddev

    def draw(self, n: int) -> np.ndarray:
        values = np.rint(self.rng.normal(self.median, self.stddev, n))
        return np.clip(values, 0, self.size - 1).astype(np.int64)


@functools.lru_cache(maxsize=4)
def zipf_table(size: int, exponent: float) -> np.ndarray:
    """Cumulative weights 1/k**s for k = 1..size, built once per process and shared
    read-only by its threads (8 bytes a key)."""
    return np.cumsum(1.0 / np.arange(1, size + 1, dtype=np.float64) ** exponent)


class Zipfian(KeyPicker):
    """P(rank k) proportional to 1 / k**exponent; index 0 is the hottest key. Drawn by
    inverse CDF: a uniform point looked up in the cumulative weights."""

    def __init__(self, size: int, rng: np.random.Generator, exponent: float):
        super().__init__(size, rng)
        self._cumulative = zipf_table(size, exponent)
        self._total = float(self._cumulative[-1])

    def draw(self, n: int) -> np.ndarray:
        points = self.rng.random(n) * self._total
        return np.minimum(np.searchsorted(self._cumulative, points, side="right"), self.size - 1)


class Strided(KeyPicker):
    """Maps an inner picker over [0, n) onto the owned keys start, start+step, ..."""

    def __init__(self, inner: KeyPicker, start: int, step: int):
        super().__init__(inner.size, inner.rng)
        self.inner, self.start, self.step = inner, start, step

    def draw(self, n: int) -> np.ndarray:
        return self.start + self.inner.draw(n) * self.step


def owned_count(keyspace: int, partition: int, partitions: int) -> int:
    return max(0, (keyspace - partition + partitions - 1) // partitions)


def make_picker(config, rng: np.random.Generator, partition: int = 0, partitions: int = 1,
                owns_keys: bool = False, key_range: tuple[int, int] | None = None) -> KeyPicker:
    """`key_range`: the shard's slice [low, high) that sequential and owned keys stay
    in; None: the whole keyspace."""
    keyspace = config.keyspace
    low, high = key_range or (0, keyspace)
    first = low + partition  # this thread's first key of the slice
    if config.key_distribution == "sequential":
        return Sequential(high, rng, start=first, step=partitions)
    size = keyspace
    if owns_keys:
        size = max(1, owned_count(high, first, partitions))
    picker = _base_picker(config, size, keyspace, rng)
    if owns_keys and (partitions > 1 or low > 0):
        return Strided(picker, first, partitions) if first < high else Strided(picker, 0, 1)
    return picker


def _base_picker(config, size: int, keyspace: int, rng: np.random.Generator) -> KeyPicker:
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


# Up to this many keys, each key's name is one cached fragment. Above it a name is two
# (see KeyNames), from two tables of about the square root of the keyspace each, so the
# tables stay in the CPU's cache: a random pick from one table of every name misses it
# on nearly every operation once the table outgrows the cache. Measured (ns per operation
# drawn and packed, high_throughput, pipeline 16, one name table against two small ones):
# 10,000 keys 195 against 225; 30,000 keys 200-245 against 220; 100,000 keys 250 against
# 222; 1,000,000 keys 290-345 against 225; 10,000,000 keys 346 against 231-278.
WHOLE_NAMES = 30_000


def name_layout(keyspace: int) -> tuple[int, int]:
    """(radix, tail digits): keys from the radix on are named by two fragments, the last
    `tail digits` digits from a table of `radix` entries. Half the digits of the largest
    key (at least 3), so both tables have about sqrt(keyspace) entries; (keyspace, 0)
    when every name is whole."""
    if keyspace <= WHOLE_NAMES:
        return keyspace, 0
    digits = max(3, len(str(keyspace - 1)) // 2)
    return 10 ** digits, digits


class KeyNames:
    """The encoded key names of one key family (prefix + family + number), as RESP bulk
    strings ("$<length>\\r\\n<name>\\r\\n") in Fragments tables, ready to be joined
    into commands.

    Made once per process and family (`key_names`), read-only afterwards, so the
    worker threads share it. Up to WHOLE_NAMES keys, each name is one fragment. Above,
    with R the radix of `name_layout`, key k < R is one fragment and a larger k is two:
    `leads[R + k // R]` (the length header, the prefix and the leading digits) then
    `tails[k % R]` (the last digits and the line end).
    """

    def __init__(self, base: bytes, keyspace: int):
        self.base = base
        self.radix, digits = name_layout(keyspace)  # keys from the radix on are two fragments
        radix = self.radix
        leads = [b"$%d\r\n%b%d\r\n" % (len(base) + len(str(k)), base, k) for k in range(min(keyspace, radix))]
        self.tails: Fragments | None = None
        if digits:
            leads += [b"$%d\r\n%b%d" % (len(base) + len(str(high)) + digits, base, high)
                      for high in range((keyspace - 1) // radix + 1)]
            self.tails = Fragments([b"%0*d\r\n" % (digits, low) for low in range(radix)])
        self.leads = Fragments(leads)

    def columns(self, indexes: np.ndarray, present=None) -> list[tuple[np.ndarray, np.ndarray]]:
        """The encoded names of these key indexes: one column of fragments, or two above
        WHOLE_NAMES keys; where `present` is False, empty fragments."""
        if self.tails is None:
            return [self.leads.take(indexes, present)]
        radix = self.radix
        highs, lows = np.divmod(indexes, radix)
        large = highs > 0
        return [self.leads.take(np.where(large, radix + highs, lows), present),
                self.tails.take(np.where(large, lows, -1), present)]

    def names(self, indexes) -> list[bytes]:
        """The plain key names (for routing and checks), not encoded."""
        base = self.base
        return [base + b"%d" % k for k in indexes.tolist()]


@functools.lru_cache(maxsize=16)
def key_names(base: bytes, keyspace: int) -> KeyNames:
    """One KeyNames per process and key family; threads share it read-only (built
    before the worker threads start)."""
    return KeyNames(base, keyspace)
