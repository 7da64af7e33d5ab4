"""The workload contract: a workload is a source of whole batches.

A workload is built in the client process, before the worker threads start, from a
WorkloadSpec; one thread then owns it. The engine asks it for one thing only:

    batch = workload.next_batch(size, connection)

and a Batch carries everything the engine needs, so the engine never asks a workload
what it can do: the bytes to send, each command's encoding (to split a batch between
Cluster nodes or resend one command), the command id at each position (an index into
`workload.commands`, for errors and null replies), operations and request bytes per
command id (`per_id`), each command's key for routing (Cluster only), and where EXEC sits when
the batch is a MULTI/EXEC transaction.

Operations are drawn in bulk (numpy) and assembled from pre-encoded fragments: key
names (workloads.keys.KeyNames), values (workloads.values.ValuePool), members and
literal arguments are RESP-encoded once, into `Fragments` tables. A workload's draw is
a matrix of fragments, one row per operation and one column per argument position
(b"" where a command has fewer arguments), taken from the tables by numpy fancy
indexing; a batch is its rows joined, so no command is put together on its own unless
a Cluster router needs it. Draws are fresh for the whole run: a block of batches is
drawn when the last one has been handed out, never replayed.
"""

from __future__ import annotations

from dataclasses import dataclass

import hiredis
import numpy as np

from workloads.fragments import Fragments, loose  # noqa: F401 - part of the contract workloads import
from workloads.keys import KeyNames, key_names, make_picker
from workloads.values import ValuePool

# Operations drawn per block: enough to spread numpy's per-call cost thin, few enough
# that drawing a block - a pause in the sending - does not let the server run out of
# work: at pipeline 16, blocks of 1,024 or 2,048 operations cost 5-10% less harness CPU
# per operation but left a local server idle during each pause (about 15% fewer ops/s
# than 512, measured); and at most BLOCK_BYTES of commands, so large values do not pile
# up memory.
BLOCK_OPERATIONS = 512
BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class WorkloadSpec:
    config: object  # harness.settings.RunConfig
    key_prefix: bytes
    seed: int
    # Which share of the keyspace this thread owns, where the distribution needs shares.
    partition: int = 0
    partitions: int = 1
    # The shard's slice of the keyspace, [low, high), for sequential and owned keys;
    # None: the whole keyspace (see workloads/keys.py).
    key_range: tuple[int, int] | None = None
    # The target is a Redis Cluster: batches carry each command's key for routing, and
    # keys that must share a slot carry a hash tag.
    cluster: bool = False


class Batch:
    """What the engine sends as one write and accounts for as one unit."""

    __slots__ = ("data", "commands", "ids", "per_id", "keys", "exec_at")

    def __init__(self, data: bytes, commands: list[bytes], ids: list[int], per_id: tuple,
                 keys: list | None = None, exec_at: int = -1):
        self.data = data  # every command, encoded, in order
        self.commands = commands  # each command's encoding (Cluster only, else None)
        self.ids = ids  # the command id at each position
        self.per_id = per_id  # ((command id, operations, request bytes), ...) for ids present
        self.keys = keys  # Cluster: each command's key (None: keyless), else None
        self.exec_at = exec_at  # position of EXEC in a MULTI/EXEC batch, else -1

    def __len__(self) -> int:
        return len(self.ids)


def head(name: str, arguments: int) -> bytes:
    """The start of a command of `arguments` arguments: count and name, encoded."""
    return b"*%d\r\n$%d\r\n%b\r\n" % (arguments + 1, len(name), name.encode())


def bulk(word: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(word), word)


class Drawn:
    """A workload's draw of n operations, in order: command ids, the fragment matrix
    (row i joined is command i), request bytes per operation, and (for a Cluster) each
    command's key."""

    __slots__ = ("ids", "parts", "lengths", "keys")

    def __init__(self, ids, parts: np.ndarray, lengths: np.ndarray, keys: list | None = None):
        self.ids = ids if isinstance(ids, np.ndarray) else np.asarray(ids, dtype=np.int64)
        self.parts = parts
        self.lengths = lengths
        self.keys = keys

    @classmethod
    def of(cls, ids, columns: list[tuple[np.ndarray, np.ndarray]], keys: list | None = None) -> "Drawn":
        """A draw from its columns, first (the command heads) to last."""
        parts = np.empty((len(ids), len(columns)), dtype=object)
        lengths = np.zeros(len(ids), dtype=np.int64)
        for number, (items, sizes) in enumerate(columns):
            parts[:, number] = items
            lengths += sizes
        return cls(ids, parts, lengths, keys)

    def commands(self) -> list[bytes]:
        """Each command's encoding (for a router, or a workload that needs them)."""
        join = b"".join
        return [join(row) for row in self.parts.tolist()]


class Workload:
    #: Every command name this workload can send; a batch's ids index into it.
    commands: tuple[str, ...] = ()
    #: The configuration keys only this workload reads: name -> (type, schema.key(...)).
    #: harness.settings makes them fields of RunConfig.
    config_keys: dict = {}
    #: True when each thread must own its keys (per-key state such as list lengths).
    owns_keys = False

    def __init__(self, spec: WorkloadSpec):
        self.spec = spec
        self.config = spec.config
        self.rng = np.random.default_rng(spec.seed)
        self.keys = make_picker(self.config, self.rng, spec.partition, spec.partitions, self.owns_keys,
                                spec.key_range)
        self.values = ValuePool(self.config.value_size, self.rng)
        self.transaction = False  # pipeline workload: wrap each batch in MULTI/EXEC
        self._ready: list[Batch] = []
        self._ready_size = 0

    # -- what the engine calls --------------------------------------------------------
    def next_batch(self, size: int, connection: int) -> Batch:
        """The next batch of `size` operations, for the connection numbered `connection`
        in its process (pub_sub names its publisher by it)."""
        ready = self._ready
        if ready and size == self._ready_size:
            return ready.pop()
        if size != self.config.pipeline:  # the last, shorter batch of a request quota
            return self._batches(size, 1)[0]
        count = max(1, min(BLOCK_OPERATIONS, BLOCK_BYTES // (self.values.largest + 64)) // size)
        batches = self._batches(size, count)
        batches.reverse()
        self._ready, self._ready_size = batches, size
        return batches.pop()

    def draw(self, n: int) -> Drawn:
        """The next n operations. Each workload draws them its own way."""
        raise NotImplementedError

    def preload_commands(self, index: int) -> list[tuple]:
        """Commands that give key `index` its starting content (preload = true)."""
        return [("SET", self.key_at(index), self.values.next_value())]

    # -- helpers for workloads ----------------------------------------------------------
    def names(self, family: bytes = b"") -> KeyNames:
        """The encoded names of a key family (prefix + family + number), shared by the
        process's threads."""
        return key_names(self.spec.key_prefix + family, self.config.keyspace)

    def key_at(self, index: int, family: bytes = b"") -> bytes:
        return self.spec.key_prefix + family + b"%d" % index

    def routes(self, names: KeyNames, indexes) -> list | None:
        """Each operation's key, for a Cluster router to find its slot (None elsewhere:
        a single node needs no routing, so the names are not made)."""
        return names.names(indexes) if self.spec.cluster else None

    # -- batching -----------------------------------------------------------------------
    def _batches(self, size: int, count: int) -> list[Batch]:
        drawn = self.draw(size * count)
        if self.transaction:
            return _wrap_transactions(self.commands, drawn, size, count)
        return _pack(len(self.commands), drawn, size, count)


def _pack(kinds: int, drawn: Drawn, size: int, count: int) -> list[Batch]:
    """Cut n = size * count drawn operations into batches, with operations and request
    bytes per command id counted for all of them at once. Each command's own encoding
    is made only where a router needs it (a Cluster splits batches by key)."""
    keys, ids, lengths = drawn.keys, drawn.ids, drawn.lengths
    id_list = ids.tolist()
    split = keys is not None
    join = b"".join
    if split:
        commands = drawn.commands()
        blocks = [join(commands[row * size:row * size + size]) for row in range(count)]
    else:
        width = drawn.parts.shape[1]
        blocks = [join(row) for row in drawn.parts.reshape(count, size * width).tolist()]
    if size == 1:
        return [Batch(data, [data] if split else None, [i], ((i, 1, len(data)),),
                      keys[row:row + 1] if split else None)
                for row, (i, data) in enumerate(zip(id_list, blocks))]
    # (command id, operations, bytes) for every id present in each batch, in batch order.
    cells = np.repeat(np.arange(count, dtype=np.int64) * kinds, size) + ids
    counts = np.bincount(cells, minlength=count * kinds)
    sent = np.bincount(cells, weights=lengths, minlength=count * kinds).astype(np.int64)
    present = np.flatnonzero(counts)
    triples = list(zip((present % kinds).tolist(), counts[present].tolist(), sent[present].tolist()))
    bounds = np.searchsorted(present, np.arange(count + 1) * kinds).tolist()
    return [Batch(blocks[row], commands[row * size:row * size + size] if split else None,
                  id_list[row * size:row * size + size], tuple(triples[bounds[row]:bounds[row + 1]]),
                  keys[row * size:row * size + size] if split else None)
            for row in range(count)]


MULTI = hiredis.pack_command(("MULTI",))
EXEC = hiredis.pack_command(("EXEC",))


def _wrap_transactions(names: tuple[str, ...], drawn: Drawn, size: int, count: int) -> list[Batch]:
    """Each batch as MULTI, its commands, EXEC: two more commands (not operations of
    the workload, but counted under their own names, as the server counts them)."""
    multi, exec_ = names.index("MULTI"), names.index("EXEC")
    batches = _pack(len(names), drawn, size, count)
    for batch in batches:
        if batch.commands is not None:
            batch.commands = [MULTI, *batch.commands, EXEC]
        batch.data = MULTI + batch.data + EXEC
        batch.ids = [multi, *batch.ids, exec_]
        batch.per_id = (*batch.per_id, (multi, 1, len(MULTI)), (exec_, 1, len(EXEC)))
        if batch.keys is not None:
            batch.keys = [batch.keys[0], *batch.keys, batch.keys[0]]
        batch.exec_at = len(batch.ids) - 1
    return batches
