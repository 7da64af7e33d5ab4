"""custom: weighted command templates from the configuration.

    commands =
        7 GET {key}
        3 SET {key} {value}
        1 ZADD {key:ranking} {int:0:1000} {member}
        1 EXPIRE {key} 60

Placeholders: {key} (a key from the keyspace), {key:NAME} (the same index in a
separate key family, for commands on another type), {value} (a prepared value),
{member} and {field} (one of `members` / `hash_fields` names), {int:LOW:HIGH}.
All placeholders of one operation share its key index.

Templates are compiled once into words that each make a column of encoded arguments
for many operations at a time (a literal is encoded once, a placeholder alone takes its
arguments from a pre-encoded table); a block of operations is drawn template by
template into one fragment matrix (workloads.base: Drawn): a row is a command's head
and its words' arguments. On a Redis Cluster a command goes to the node of its first
key placeholder. The coordinator checks with the server that every key a template
touches lies under the run's prefix (harness.template_check).
"""

from __future__ import annotations

import re

import numpy as np

from harness import parsers as p
from harness import schema
from workloads.base import Drawn, Fragments, Workload, bulk, head, loose
from workloads.collections import HASH_FIELDS_KEY, MEMBERS_KEY

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# {int:LOW:HIGH} ranges up to this many numbers are encoded once.
ENCODED_INTS = 100_000


class _Word:
    """One argument of a template: literal pieces and placeholders, joined."""

    def __init__(self, workload: "Custom", text: str):
        self.pieces: list = []  # bytes, or a _Placeholder
        self.key_family: bytes | None = None  # the family of a key placeholder in it
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            if match.start() > position:
                self.pieces.append(text[position:match.start()].encode())
            self.pieces.append(workload.placeholder(match.group(1), self))
            position = match.end()
        if position < len(text):
            self.pieces.append(text[position:].encode())
        self.literal = bulk(b"".join(self.pieces)) if all(isinstance(p, bytes) for p in self.pieces) else None

    def columns(self, n: int, indexes: np.ndarray) -> list:
        """Columns of n encoded arguments, for operations on these key indexes."""
        if self.literal is not None:
            return [(np.full(n, self.literal, dtype=object), np.full(n, len(self.literal), dtype=np.int64))]
        if len(self.pieces) == 1:  # a placeholder alone: its own encoded arguments
            return self.pieces[0].columns(n, indexes)
        raw = [[piece] * n if isinstance(piece, bytes) else piece(n, indexes) for piece in self.pieces]
        return [loose([bulk(b"".join(parts)) for parts in zip(*raw)])]


class _Placeholder:
    """A function (n, key indexes) -> raw arguments, with `columns` for the encoded ones
    (one or more columns of fragments)."""

    def __init__(self, raw, columns):
        self.raw, self.columns = raw, columns

    def __call__(self, n, indexes):
        return self.raw(n, indexes)


class Custom(Workload):
    config_keys = {
        "commands": (tuple, schema.key("workload", "", p.command_templates(),
                                       "custom: 'WEIGHT COMMAND ARGS' lines", "LINES")),
        **MEMBERS_KEY, **HASH_FIELDS_KEY,
    }

    def __init__(self, spec):
        super().__init__(spec)
        templates = self.config.commands
        self.commands = tuple(dict.fromkeys(template.name for template in templates))
        self._members = [b"m%d" % n for n in range(self.config.members)]
        self._fields = [b"f%d" % n for n in range(self.config.hash_fields)]
        self._templates = []
        for template in templates:
            words = [_Word(self, word) for word in template.words[1:]]
            route = next((word for word in words if word.key_family is not None), None)
            self._templates.append((self.commands.index(template.name), head(template.name, len(words)), words,
                                    route))
        weights = np.array([template.weight for template in templates], dtype=np.float64)
        self._bounds = np.cumsum(weights) / weights.sum()

    def draw(self, n: int) -> Drawn:
        chosen = np.minimum(np.searchsorted(self._bounds, self.rng.random(n), side="right"), len(self._templates) - 1)
        indexes = self.keys.draw(n)
        keys: list | None = [None] * n if self.spec.cluster else None
        ids = np.empty(n, dtype=np.int64)
        columns_of = []  # per template: (positions, its columns)
        for number, (name_id, start, words, route) in enumerate(self._templates):
            positions = np.flatnonzero(chosen == number)
            if not len(positions):
                continue
            ids[positions] = name_id
            own = indexes[positions]
            count = len(positions)
            columns = [(np.full(count, start, dtype=object), np.full(count, len(start), dtype=np.int64))]
            columns += [column for word in words for column in word.columns(count, own)]
            columns_of.append((positions if count < n else slice(None), columns))
            if keys is not None and route is not None:
                for place, name in zip(positions.tolist(), self.names(route.key_family).names(own)):
                    keys[place] = name
        parts = np.full((n, max(len(columns) for _, columns in columns_of)), b"", dtype=object)
        lengths = np.zeros(n, dtype=np.int64)
        for positions, columns in columns_of:
            for number, (items, sizes) in enumerate(columns):
                parts[positions, number] = items
                lengths[positions] += sizes
        return Drawn(ids, parts, lengths, keys)

    def placeholder(self, inner: str, word: _Word) -> _Placeholder:
        kind, _, rest = inner.partition(":")
        rng = self.rng
        if kind == "key":
            family = rest.encode() + b":" if rest else b""
            if word.key_family is None:
                word.key_family = family
            names = self.names(family)
            return _Placeholder(lambda n, indexes: names.names(indexes), lambda n, indexes: names.columns(indexes))
        if kind == "value":
            values = self.values
            return _Placeholder(lambda n, indexes: [values.value(p) for p in values.picks(n).tolist()],
                                lambda n, indexes: [values.take(n)])
        if kind in ("member", "field"):
            words = self._members if kind == "member" else self._fields
            return self._table_placeholder(words)
        low, high = (int(text) for text in rest.split(":"))
        if high - low <= ENCODED_INTS:
            return self._table_placeholder([b"%d" % number for number in range(low, high + 1)])
        return _Placeholder(lambda n, indexes: [b"%d" % v for v in rng.integers(low, high + 1, n).tolist()],
                            lambda n, indexes: [loose([bulk(b"%d" % v)
                                                       for v in rng.integers(low, high + 1, n).tolist()])])

    def _table_placeholder(self, raws: list[bytes]) -> _Placeholder:
        """A placeholder drawing uniformly from these arguments, encoded once."""
        rng, table = self.rng, Fragments([bulk(raw) for raw in raws])
        return _Placeholder(lambda n, indexes: [raws[p] for p in rng.integers(0, len(raws), n).tolist()],
                            lambda n, indexes: [table.take(rng.integers(0, len(raws), n))])

    def preload_commands(self, index: int) -> list[tuple]:
        return []

