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

from workloads.base import Workload


class Pipeline(Workload):
    commands = ("SET", "GET", "INCR")

    def __init__(self, spec):
        super().__init__(spec)
        self.transaction = self.config.transaction
        if self.transaction:
            self.commands = ("SET", "GET", "INCR", "MULTI", "EXEC")
        self.tagged = self.transaction and spec.cluster
        self.group_size = max(1, self.config.pipeline)
        self.group = 0

    def begin_batch(self) -> None:
        if self.tagged:
            self.group = self.keys.next_index() // self.group_size

    def key_at(self, index: int, family: bytes = b"") -> bytes:
        if self.tagged:
            return self.spec.key_prefix + b"{%d}" % (index // self.group_size) + family + b"%d" % index
        return super().key_at(index, family)

    def key(self, family: bytes = b"") -> bytes:
        if self.tagged:
            first = self.group * self.group_size
            last = min(first + self.group_size, self.config.keyspace)
            return self.key_at(self.rng.randrange(first, last), family)
        return super().key(family)

    def next_command(self) -> tuple:
        draw = self.rng.random()
        if draw < self.config.read_ratio:
            return ("GET", self.key())
        if draw < self.config.read_ratio + (1 - self.config.read_ratio) * 0.8:
            return ("SET", self.key(), self.values.next_value())
        return ("INCR", self.key(b"n:"))
