"""high_throughput: the cheapest SET/GET mix, for saturation.

GET with probability read_ratio, else SET of a prepared value, on keys drawn by the
configured distribution: every operation is a fresh draw, for any keyspace and any
value sizes, and a command is two or three pre-encoded fragments put together.
"""

import numpy as np

from workloads.base import Drawn, Workload, head

SET_HEAD = head("SET", 2)
GET_HEAD = head("GET", 1)


class HighThroughput(Workload):
    commands = ("SET", "GET")

    def __init__(self, spec):
        super().__init__(spec)
        self._names = self.names()

    def draw(self, n: int) -> Drawn:
        indexes = self.keys.draw(n)
        reads = (self.rng.random(n) < self.config.read_ratio).astype(np.int64)  # 1 = GET
        keys = self._names.bulks(indexes)
        values = self.values.draw(n)
        commands = [GET_HEAD + key if read else SET_HEAD + key + value
                    for read, key, value in zip(reads.tolist(), keys, values)]
        return Drawn(reads, commands, self.routes(self._names, indexes))
