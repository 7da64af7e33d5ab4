"""high_throughput: the cheapest SET/GET mix, for saturation runs."""

from workloads.base import Workload


class HighThroughput(Workload):
    commands = ("SET", "GET")

    def next_command(self) -> tuple:
        if self.rng.random() < self.spec.read_ratio:
            return ("GET", self.key())
        return ("SET", self.key(), self.values.next_value())
