"""high_throughput: the cheapest SET/GET mix, for saturation.

GET with probability read_ratio, else SET of a prepared value, on keys drawn by the
configured distribution: every operation is a fresh draw, for any keyspace and any
value sizes, and a command is its pre-encoded fragments: head, key name, value.
"""

import numpy as np

from workloads.base import Drawn, Fragments, Workload, head

HEADS = Fragments([head("SET", 2), head("GET", 1)])


class HighThroughput(Workload):
    commands = ("SET", "GET")

    def __init__(self, spec):
        super().__init__(spec)
        self._names = self.names()

    def draw(self, n: int) -> Drawn:
        indexes = self.keys.draw(n)
        reads = (self.rng.random(n) < self.config.read_ratio).astype(np.int64)  # 1 = GET
        columns = [HEADS.take(reads), *self._names.columns(indexes), self.values.take(n, reads == 0)]
        return Drawn.of(reads, columns, self.routes(self._names, indexes))
