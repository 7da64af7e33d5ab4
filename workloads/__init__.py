"""Workloads: what each operation sends, kept apart from how fast (pacing) and where
(the client process). A workload uses only the redis client it is handed.

The registry is explicit: a workload exists when it is listed in WORKLOADS.
"""

from workloads.base import Workload, WorkloadSpec
from workloads.basic_rw import BasicReadWrite
from workloads.high_throughput import HighThroughput

WORKLOADS: dict[str, type[Workload]] = {
    "basic_rw": BasicReadWrite,
    "high_throughput": HighThroughput,
}
WORKLOAD_NAMES = tuple(sorted(WORKLOADS))


class WorkloadFactory:
    @staticmethod
    def create(name: str, spec: WorkloadSpec) -> Workload:
        return WORKLOADS[name](spec)


__all__ = ["WORKLOADS", "WORKLOAD_NAMES", "Workload", "WorkloadFactory", "WorkloadSpec"]
