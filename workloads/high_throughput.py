"""high_throughput: the cheapest SET/GET mix on prepared keys and values, for saturation.

When the keyspace is small enough and the value size fixed, every GET and SET the
workload can send is encoded once, when the client process starts (shared by its
threads), so an operation is two random draws and a list lookup: the engine sends
these prepared bytes as they are (next_packed).

With a random key distribution (uniform, gaussian, zipfian) it goes one step further:
each thread draws a ring of whole batches up front - keys by the configured
distribution, GET or SET by read_ratio, RING_OPERATIONS draws in all - and the engine
sends batch after batch from the ring (prepare_batches), so a batch costs one lookup and one
write however deep the pipeline. The sequence of keys repeats every ring: at least
twice the keyspace, up to RING_LIMIT operations (then not every key of a larger
keyspace is used). Sequential keys are never replayed: they take the per-operation path.
"""

import hiredis

from workloads.base import PreparedBatch, Workload

# Above this many keys the prepared commands would cost too much memory (about 200 bytes
# a key for GET + SET with small values); commands are then encoded per operation.
PREPACK_LIMIT = 200_000
# Operations drawn into each thread's ring of prepared batches: twice the keyspace, at
# least RING_MINIMUM, at most RING_LIMIT (about 60 bytes each with 32-byte values).
RING_MINIMUM = 65_536
RING_LIMIT = 262_144
_PREPARED: dict[tuple, tuple[list[bytes], list[bytes]]] = {}


class HighThroughput(Workload):
    commands = ("SET", "GET")

    def __init__(self, spec):
        super().__init__(spec)
        sizes = self.config.value_size
        self.prepacked = (
            self._main_keys is not None and self.config.keyspace <= PREPACK_LIMIT
            and len(sizes) == 1 and sizes[0].low == sizes[0].high
        )
        if self.prepacked:
            self._gets, self._sets = self._prepared(self.values.next_value())
        self.batched = self.prepacked and self.config.key_distribution != "sequential"
        self.ring: list[PreparedBatch] | None = None  # set by prepare_batches

    def prepare_batches(self, size: int) -> None:
        """Draw this thread's ring of batches of `size` operations, which the engine
        sends in turn; the client process calls this before the start signal."""
        operations = min(max(2 * self.config.keyspace, RING_MINIMUM), RING_LIMIT)
        self.ring = [PreparedBatch([self.next_packed() for _ in range(size)])
                     for _ in range(max(1, operations // size))]

    def _prepared(self, value: bytes) -> tuple[list[bytes], list[bytes]]:
        """Every GET and SET, encoded once per process (workloads are built before the
        worker threads start, so no lock is needed)."""
        key = (self.spec.key_prefix, self.config.keyspace, len(value))
        if key not in _PREPARED:
            pack = hiredis.pack_command
            _PREPARED[key] = ([pack((b"GET", name)) for name in self._main_keys],
                              [pack((b"SET", name, value)) for name in self._main_keys])
        return _PREPARED[key]

    def next_command(self) -> tuple:
        if self.rng.random() < self.config.read_ratio:
            return ("GET", self.key())
        return ("SET", self.key(), self.values.next_value())

    def next_packed(self) -> tuple[str, bytes]:
        """(command name, its encoded bytes), from the prepared commands."""
        index = self.keys.next_index()
        if self.rng.random() < self.config.read_ratio:
            return ("GET", self._gets[index])
        return ("SET", self._sets[index])
