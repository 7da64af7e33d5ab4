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
        self._key_cache = (
            [self.key_at(index) for index in range(self.config.keyspace)]
            if self.config.keyspace <= KEY_CACHE_LIMIT else None
        )

    def key_at(self, index: int) -> bytes:
        return self.spec.key_prefix + b"%d" % index

    def key(self) -> bytes:
        index = self.keys.next_index()
        cache = self._key_cache
        return cache[index] if cache is not None else self.key_at(index)

    def next_command(self) -> tuple:
        raise NotImplementedError

    def preload_commands(self, index: int) -> list[tuple]:
        """Commands that give key `index` its starting content (preload = true)."""
        return [("SET", self.key_at(index), self.values.next_value())]
