"""The workload contract.

A workload is built in the worker thread that uses it (after the fork), from a
WorkloadSpec, and hands out one command at a time as a tuple whose first item is the
command name: ("SET", key, value). The thread sends it and records the outcome under
that name, so every report breaks down by command.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.parsers import SizeChoice
from workloads.keys import make_picker
from workloads.values import ValuePool


@dataclass(frozen=True)
class WorkloadSpec:
    key_prefix: bytes
    keyspace: int
    key_distribution: str
    value_size: tuple[SizeChoice, ...]
    read_ratio: float
    seed: int
    # Which share of the keyspace this thread owns, where the distribution needs shares.
    partition: int = 0
    partitions: int = 1


class Workload:
    #: Every command name this workload can send, for reports and checks.
    commands: tuple[str, ...] = ()

    def __init__(self, spec: WorkloadSpec):
        self.spec = spec
        self.rng = random.Random(spec.seed)
        picker = make_picker(spec.key_distribution, spec.keyspace, self.rng)
        self.keys = picker.partition(spec.partition, spec.partitions)
        self.values = ValuePool(spec.value_size, self.rng)

    def key(self) -> bytes:
        return self.spec.key_prefix + b"%d" % self.keys.next_index()

    def next_command(self) -> tuple:
        raise NotImplementedError
