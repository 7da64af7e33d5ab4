"""pipeline: batches of `pipeline` mixed commands per round trip (SET, GET, INCR).

The engine sends each batch in one write and reads the replies together; with
transaction = true every batch is wrapped in MULTI/EXEC. Results count the batches
(round trips) and every command, MULTI and EXEC included.

On a Redis Cluster a transaction's keys must share a hash slot, so with transaction =
true there the keys carry a hash tag: key number i is named PREFIX{g}i with group
g = i // pipeline, and each batch draws its group by the key distribution (the group of
one drawn key) and its keys from that group. Without transactions keys have no tag and
spread over every slot.
"""

import numpy as np

from harness import parsers as p
from harness import schema
from workloads.base import Drawn, Fragments, Workload, head, loose

HEADS = Fragments([head("SET", 2), head("GET", 1), head("INCR", 1)])


class Pipeline(Workload):
    commands = ("SET", "GET", "INCR")  # MULTI and EXEC too with transaction = true
    config_keys = {
        "transaction": (bool, schema.key("workload", "false", p.boolean(),
                                         "pipeline workload: wrap in MULTI/EXEC", "BOOL")),
    }

    def __init__(self, spec):
        super().__init__(spec)
        self.transaction = self.config.transaction
        self.commands = ("SET", "GET", "INCR", "MULTI", "EXEC") if self.transaction else ("SET", "GET", "INCR")
        self.tagged = self.transaction and spec.cluster
        self.group_size = max(1, self.config.pipeline)
        self._names = self.names()
        self._counters = self.names(b"n:")

    def key_at(self, index: int, family: bytes = b"") -> bytes:
        if self.tagged:
            return self.spec.key_prefix + b"{%d}" % (index // self.group_size) + family + b"%d" % index
        return super().key_at(index, family)

    def draw(self, n: int) -> Drawn:
        draws = self.rng.random(n)
        read_ratio = self.config.read_ratio
        ids = np.where(draws < read_ratio, 1, np.where(draws < read_ratio + (1 - read_ratio) * 0.8, 0, 2))
        indexes = self._tagged_indexes(n) if self.tagged else self.keys.draw(n)
        counters = ids == 2
        routes = None
        if self.spec.cluster:
            routes = [self.key_at(index, b"n:" if counter else b"")
                      for index, counter in zip(indexes.tolist(), counters.tolist())]
        if self.tagged:  # names with their group's hash tag, made per operation
            keys = [loose([b"$%d\r\n%b\r\n" % (len(name), name) for name in routes])]
        else:
            keys = [*self._names.columns(indexes, ~counters), *self._counters.columns(indexes, counters)]
        return Drawn.of(ids, [HEADS.take(ids), *keys, self.values.take(n, ids == 0)], routes)

    def _tagged_indexes(self, n: int) -> np.ndarray:
        """Key indexes batch by batch, each batch within one group: its group is that of
        a key drawn by the distribution, its keys uniform within the group."""
        size = self.group_size
        batches = max(1, n // size)
        groups = self.keys.draw(batches) // size
        firsts = np.repeat(groups * size, size)[:n]
        spans = np.minimum(size, self.config.keyspace - firsts)
        return firsts + (self.rng.random(n) * spans).astype(np.int64)
