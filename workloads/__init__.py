"""Workloads: what each operation sends, kept apart from how fast (pacing) and where
(the client process). A workload uses only what it is handed.

The registry is explicit: a workload exists when it is listed in WORKLOADS.
"""

from workloads.base import Workload, WorkloadSpec
from workloads.basic_rw import BasicReadWrite
from workloads.collections import HashOperations, ListOperations, SetOperations, SortedSetOperations
from workloads.custom import Custom
from workloads.high_throughput import HighThroughput
from workloads.pipeline import Pipeline
from workloads.pub_sub import PubSub

WORKLOADS: dict[str, type[Workload]] = {
    "basic_rw": BasicReadWrite,
    "high_throughput": HighThroughput,
    "list_operations": ListOperations,
    "set_operations": SetOperations,
    "sorted_set_operations": SortedSetOperations,
    "hash_operations": HashOperations,
    "pipeline": Pipeline,
    "pub_sub": PubSub,
    "custom": Custom,
}
WORKLOAD_NAMES = tuple(WORKLOADS)


def declared_keys() -> list[tuple]:
    """(name, type, field) of every key some workload declares, once each, in registry
    order, for harness.settings to add to RunConfig."""
    keys: dict[str, tuple] = {}
    for workload in WORKLOADS.values():
        for name, (kind, declaration) in workload.config_keys.items():
            keys.setdefault(name, (name, kind, declaration))
    return list(keys.values())


class WorkloadFactory:
    @staticmethod
    def create(name: str, spec: WorkloadSpec) -> Workload:
        return WORKLOADS[name](spec)


__all__ = ["WORKLOADS", "WORKLOAD_NAMES", "Workload", "WorkloadFactory", "WorkloadSpec", "declared_keys"]
