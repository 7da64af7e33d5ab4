"""custom: weighted command templates from the configuration.

    commands =
        7 GET {key}
        3 SET {key} {value}
        1 ZADD {key:ranking} {int:0:1000} {member}
        1 EXPIRE {key} 60

Placeholders: {key} (a key from the keyspace), {key:NAME} (the same index in a
separate key family, for commands on another type), {value} (a prepared value),
{member} and {field} (one of `members` / `hash_fields` names), {int:LOW:HIGH}.
Templates are compiled once into tuples of literals and small generator functions, so
an operation only calls those. The coordinator checks with the server (COMMAND GETKEYS)
that every key a template touches lies under the run's prefix.
"""

from __future__ import annotations

import bisect
import itertools
import re

from workloads.base import Workload

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class Custom(Workload):
    commands: tuple[str, ...] = ()

    def __init__(self, spec):
        super().__init__(spec)
        templates = self.config.commands
        self.commands = tuple(dict.fromkeys(template.name for template in templates))
        self._members = [b"m%d" % n for n in range(self.config.members)]
        self._fields = [b"f%d" % n for n in range(self.config.hash_fields)]
        self._compiled = [self._compile(template) for template in templates]
        self._bounds = list(itertools.accumulate(template.weight for template in templates))
        self._index = 0

    def next_command(self) -> tuple:
        position = bisect.bisect_right(self._bounds, self.rng.random() * self._bounds[-1])
        name, parts = self._compiled[min(position, len(self._compiled) - 1)]
        self._index = self.keys.next_index()
        return (name, *[part() if callable(part) else part for part in parts])

    def sample_commands(self) -> list[tuple]:
        """One command per template, for the coordinator's key check."""
        commands = []
        for name, parts in self._compiled:
            self._index = 0
            commands.append((name, *[part() if callable(part) else part for part in parts]))
        return commands

    def _compile(self, template):
        parts = [self._compile_word(word) for word in template.words[1:]]
        return template.name, parts

    def _compile_word(self, word: str):
        pieces = []
        position = 0
        for match in _PLACEHOLDER.finditer(word):
            if match.start() > position:
                pieces.append(word[position:match.start()].encode())
            pieces.append(self._generator(match.group(1)))
            position = match.end()
        if position < len(word):
            pieces.append(word[position:].encode())
        if len(pieces) == 1:
            return pieces[0]
        return lambda: b"".join(piece() if callable(piece) else piece for piece in pieces)

    def _generator(self, inner: str):
        kind, _, rest = inner.partition(":")
        rng = self.rng
        if kind == "key":
            family = rest.encode() + b":" if rest else b""
            return lambda: self.key_at(self._index, family)
        if kind == "value":
            return self.values.next_value
        if kind == "member":
            return lambda: self._members[rng.randrange(len(self._members))]
        if kind == "field":
            return lambda: self._fields[rng.randrange(len(self._fields))]
        low, high = (int(text) for text in rest.split(":"))
        if high - low <= 100_000:  # encode the numbers once
            numbers = [b"%d" % number for number in range(low, high + 1)]
            return lambda: numbers[rng.randrange(len(numbers))]
        return lambda: b"%d" % rng.randint(low, high)

    def preload_commands(self, index: int) -> list[tuple]:
        return []

