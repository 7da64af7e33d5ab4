"""high_throughput: the cheapest SET/GET mix on prepared keys and values, for saturation."""

from workloads.base import Workload


class HighThroughput(Workload):
    commands = ("SET", "GET")

    def next_command(self) -> tuple:
        if self.rng.random() < self.config.read_ratio:
            return ("GET", self.key())
        return ("SET", self.key(), self.values.next_value())
