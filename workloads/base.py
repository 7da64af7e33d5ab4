"""The workload contract.

A workload is built in the worker thread that uses it (after the fork) from a
WorkloadSpec, and hands out one command at a time as a tuple whose first item is the
command name: ("SET", key, value). The thread sends it and records the outcome under
that name, so every report breaks down by command.

Keys and values are prepared where possible: key names come from a per-workload cache
of encoded keys, values from a pool of random bytes made up front.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from workloads.keys import make_picker
from workloads.values import ValuePool

# Encoded key names are cached up to this many per workload; beyond it they are built
# per operation (a bytes %-format, ~100 ns).
KEY_CACHE_LIMIT = 1_000_000


@dataclass(frozen=True)
class WorkloadSpec:
    config: object  # harness.settings.RunConfig
    key_prefix: bytes
    seed: int
    # Which share of the keyspace this thread owns, where the distribution needs shares.
    partition: int = 0
    partitions: int = 1
    # The target is a Redis Cluster: keys that must share a slot carry a hash tag.
    cluster: bool = False


class PreparedBatch:
    """A whole batch encoded ahead of time, with what the engine needs to account for
    it without looking at each command: the name at each position (for errors and
    null replies), operations per command name, and request bytes per command name."""

    __slots__ = ("data", "names", "counts", "sent")

    def __init__(self, commands: list[tuple[str, bytes]]):
        self.data = b"".join(encoded for _, encoded in commands)
        self.names = tuple(name for name, _ in commands)
        counts: dict[str, int] = {}
        sent: dict[str, int] = {}
        for name, encoded in commands:
            counts[name] = counts.get(name, 0) + 1
            sent[name] = sent.get(name, 0) + len(encoded)
        self.counts = tuple(counts.items())
        self.sent = tuple(sent.items())

    def __len__(self) -> int:
        return len(self.names)


class Workload:
    #: Every command name this workload can send, for reports and checks.
    commands: tuple[str, ...] = ()
    #: True when each thread must own its keys (per-key state such as list lengths).
    owns_keys = False
    #: pipeline workload: wrap each batch in MULTI/EXEC.
    transaction = False
    #: Set by the engine before each batch: the index of the connection that will send it.
    connection = 0

    def __init__(self, spec: WorkloadSpec):
        self.spec = spec
        self.config = spec.config
        self.rng = random.Random(spec.seed)
        self.keys = make_picker(self.config, self.rng, spec.partition, spec.partitions, self.owns_keys)
        self.values = ValuePool(self.config.value_size, self.rng)
        self._families: dict[bytes, list[bytes] | None] = {}
        self._main_keys = self._family_cache(b"")  # encoded now rather than mid-run

    def _family_cache(self, family: bytes) -> list[bytes] | None:
        """Every encoded key name of a family (prefix + family + number), made once."""
        if family not in self._families:
            base = self.spec.key_prefix + family
            keyspace = self.config.keyspace
            self._families[family] = (
                [base + b"%d" % index for index in range(keyspace)] if keyspace <= KEY_CACHE_LIMIT else None
            )
        return self._families[family]

    def key_at(self, index: int, family: bytes = b"") -> bytes:
        cache = self._family_cache(family)
        return cache[index] if cache is not None else self.spec.key_prefix + family + b"%d" % index

    def key(self, family: bytes = b"") -> bytes:
        """The next key by the configured distribution; `family` names a separate set of
        keys with the same numbers (e.g. b"n:" for counters), so types never mix."""
        if not family and self._main_keys is not None:  # the common case, kept short
            return self._main_keys[self.keys.next_index()]
        return self.key_at(self.keys.next_index(), family)

    def begin_batch(self) -> None:
        """Called by the engine before each MULTI/EXEC batch (pipeline: picks the hash tag)."""

    def next_command(self) -> tuple:
        raise NotImplementedError

    def preload_commands(self, index: int) -> list[tuple]:
        """Commands that give key `index` its starting content (preload = true)."""
        return [("SET", self.key_at(index), self.values.next_value())]
