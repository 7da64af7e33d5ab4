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
for many operations at a time (a literal is encoded once); a block of operations is
drawn template by template and each command is its template's head and its words'
arguments put together. On a Redis Cluster a command goes to the node of its first
key placeholder. The coordinator checks with the server that every key a template
touches lies under the run's prefix (harness.template_check).
"""

from __future__ import annotations

import re

import numpy as np

from harness import parsers as p
from harness import schema
from workloads.base import Drawn, Workload, bulk, head
from workloads.collections import HASH_FIELDS_KEY, MEMBERS_KEY

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# {int:LOW:HIGH} ranges up to this many numbers are encoded once.
ENCODED_INTS = 100_000


class _Word:
    """One argument of a template: literal pieces and placeholders, joined."""

    def __init__(self, workload: "Custom", text: str):
        self.pieces: list = []  # bytes, or a function (n, key indexes) -> list of raw bytes
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
        self.bulk_maker = None  # a placeholder alone: it encodes its own arguments
        if self.literal is None and len(self.pieces) == 1:
            self.bulk_maker = getattr(self.pieces[0], "bulks", None)

    def column(self, n: int, indexes: np.ndarray) -> list[bytes]:
        """n encoded arguments, for operations on these key indexes."""
        if self.literal is not None:
            return [self.literal] * n
        if self.bulk_maker is not None:
            return self.bulk_maker(n, indexes)
        columns = [[piece] * n if isinstance(piece, bytes) else piece(n, indexes) for piece in self.pieces]
        return [bulk(b"".join(parts)) for parts in zip(*columns)]


class _Placeholder:
    """A function (n, key indexes) -> raw arguments, with `bulks` for the encoded ones."""

    def __init__(self, raw, bulks):
        self.raw, self.bulks = raw, bulks

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
        commands: list = [None] * n
        keys: list | None = [None] * n if self.spec.cluster else None
        ids = np.empty(n, dtype=np.int64)
        for number, (name_id, start, words, route) in enumerate(self._templates):
            positions = np.flatnonzero(chosen == number)
            if not len(positions):
                continue
            ids[positions] = name_id
            own = indexes[positions]
            count = len(positions)
            places = positions.tolist()
            if words:
                columns = [word.column(count, own) for word in words]
                for place, arguments in zip(places, zip(*columns)):
                    commands[place] = start + b"".join(arguments)
            else:
                for place in places:
                    commands[place] = start
            if keys is not None and route is not None:
                names = self.names(route.key_family).names(own)
                for place, name in zip(places, names):
                    keys[place] = name
        return Drawn(ids, commands, keys)

    def placeholder(self, inner: str, word: _Word) -> _Placeholder:
        kind, _, rest = inner.partition(":")
        rng = self.rng
        if kind == "key":
            family = rest.encode() + b":" if rest else b""
            if word.key_family is None:
                word.key_family = family
            names = self.names(family)
            return _Placeholder(lambda n, indexes: names.names(indexes), lambda n, indexes: names.bulks(indexes))
        if kind == "value":
            values = self.values
            return _Placeholder(lambda n, indexes: [values.value(p) for p in values.picks(n)],
                                lambda n, indexes: values.draw(n))
        if kind in ("member", "field"):
            words = self._members if kind == "member" else self._fields
            bulks = [bulk(w) for w in words]
            return _Placeholder(lambda n, indexes: [words[p] for p in rng.integers(0, len(words), n).tolist()],
                                lambda n, indexes: [bulks[p] for p in rng.integers(0, len(bulks), n).tolist()])
        low, high = (int(text) for text in rest.split(":"))
        if high - low <= ENCODED_INTS:
            raws = [b"%d" % number for number in range(low, high + 1)]
            bulks = [bulk(raw) for raw in raws]
            return _Placeholder(lambda n, indexes: [raws[p] for p in rng.integers(0, len(raws), n).tolist()],
                                lambda n, indexes: [bulks[p] for p in rng.integers(0, len(bulks), n).tolist()])
        return _Placeholder(lambda n, indexes: [b"%d" % v for v in rng.integers(low, high + 1, n).tolist()],
                            lambda n, indexes: [bulk(b"%d" % v) for v in rng.integers(low, high + 1, n).tolist()])

    def preload_commands(self, index: int) -> list[tuple]:
        return []

