"""basic_rw: GET against a write mix of SET, INCR and DEL.

read_ratio sets the share of GET; write_mix (default SET:70,INCR:20,DEL:10) splits the
writes. INCR uses its own keys (prefix + "n:") so it never meets a SET value that is
not a number.
"""

import numpy as np

from harness import parsers as p
from harness import schema
from workloads.base import Drawn, Fragments, Workload, head

HEADS = {"GET": head("GET", 1), "SET": head("SET", 2), "INCR": head("INCR", 1), "DEL": head("DEL", 1)}


class BasicReadWrite(Workload):
    commands = ("GET", "SET", "INCR", "DEL")  # all it may send; write_mix picks among them
    config_keys = {
        "write_mix": (tuple, schema.key("workload", "SET:70,INCR:20,DEL:10", p.weights("SET", "INCR", "DEL"),
                                 "basic_rw's writes", "MIX")),
    }

    def __init__(self, spec):
        super().__init__(spec)
        mix = [(name, weight) for name, weight in self.config.write_mix if weight > 0]
        self.commands = ("GET", *[name for name, _ in mix])
        weights = np.array([weight for _, weight in mix], dtype=np.float64)
        self._write_bounds = np.cumsum(weights) / weights.sum()
        self._heads = Fragments([HEADS[name] for name in self.commands])
        self._set = self.commands.index("SET") if "SET" in self.commands else -1
        self._incr = self.commands.index("INCR") if "INCR" in self.commands else -1
        self._names = self.names()
        self._counters = self.names(b"n:")

    def draw(self, n: int) -> Drawn:
        draws = self.rng.random(n)
        read_ratio = self.config.read_ratio
        shares = (draws - read_ratio) / max(1.0 - read_ratio, 1e-12)
        writes = np.minimum(np.searchsorted(self._write_bounds, shares, side="right"), len(self._write_bounds) - 1)
        ids = np.where(draws < read_ratio, 0, writes + 1)
        indexes = self.keys.draw(n)
        counters = ids == self._incr  # counters live in their own key family
        columns = [self._heads.take(ids), *self._names.columns(indexes, ~counters)]
        if self._incr >= 0:
            columns += self._counters.columns(indexes, counters)
        columns.append(self.values.take(n, ids == self._set))
        cluster_keys = self.routes(self._names, indexes)
        if cluster_keys is not None and self._incr >= 0:
            for position, key in zip(np.flatnonzero(counters).tolist(), self._counters.names(indexes[counters])):
                cluster_keys[position] = key
        return Drawn.of(ids, columns, cluster_keys)
