"""Workloads on Redis collections: lists, sets, sorted sets and hashes.

Each keeps its keys' memory bounded: lists by tracking their lengths (each thread owns
its lists), sets and sorted sets by drawing members from `members` names, hashes by
drawing fields from `hash_fields` names.

Each draws a block of operations at once: command shapes by their weights, keys by the
distribution, members and values from encoded pools; a command is its shape's encoded
head and arguments put together.
"""

from __future__ import annotations

import collections

import numpy as np

from harness import parsers as p
from harness import schema
from workloads.base import Drawn, Workload, bulk, head

# Also read by the custom workload's {member} and {field}.
MEMBERS_KEY = {
    "members": (int, schema.key("workload", "100", p.integer(1), "distinct members per set or sorted set", "N")),
}
HASH_FIELDS_KEY = {
    "hash_fields": (int, schema.key("workload", "10", p.integer(1), "distinct fields per hash", "N")),
}

# Scores and score windows, encoded once.
_NUMBERS = [bulk(b"%d" % number) for number in range(1101)]


class _ShapedWorkload(Workload):
    """A workload whose operations are weighted shapes: (command name, weight)."""

    shapes: tuple[tuple[str, float], ...] = ()

    def __init__(self, spec):
        super().__init__(spec)
        self._shape_ids = [self.commands.index(name) for name, _ in self.shapes]
        weights = np.array([weight for _, weight in self.shapes], dtype=np.float64)
        self._bounds = np.cumsum(weights) / weights.sum()
        self._names = self.names()

    def draw_shapes(self, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self._bounds, self.rng.random(n), side="right"), len(self.shapes) - 1)

    def finish(self, shapes: np.ndarray, indexes: np.ndarray, commands: list[bytes]) -> Drawn:
        ids = np.asarray(self._shape_ids, dtype=np.int64)[shapes]
        return Drawn(ids, commands, self.routes(self._names, indexes))


class _MemberWorkload(_ShapedWorkload):
    member_count_key = "members"
    member_letter = b"m"

    def __init__(self, spec):
        super().__init__(spec)
        count = getattr(self.config, self.member_count_key)
        self._members = [self.member_letter + b"%d" % number for number in range(count)]
        self._member_bulks = [bulk(member) for member in self._members]

    def draw_members(self, n: int) -> list[bytes]:
        bulks = self._member_bulks
        return [bulks[pick] for pick in self.rng.integers(0, len(bulks), n).tolist()]


class ListOperations(_ShapedWorkload):
    """LPUSH / RPOP / LLEN. A thread pushes only while its list is below
    list_max_length and pops only what it pushed, so lists stay bounded. (Which of
    LPUSH and RPOP an operation is depends on the list's length then, so that choice is
    made one operation at a time, over numbers drawn in bulk.)"""

    commands = ("LPUSH", "RPOP", "LLEN")
    config_keys = {
        "list_max_length": (int, schema.key("workload", "100", p.integer(1),
                                            "longest list the list workload makes", "N")),
    }
    shapes = (("LPUSH", 0.4), ("RPOP", 0.4), ("LLEN", 0.2))
    owns_keys = True

    def __init__(self, spec):
        super().__init__(spec)
        self._lengths: collections.defaultdict[int, int] = collections.defaultdict(int)  # owned lists
        self._limit = self.config.list_max_length
        self._heads = [head("LPUSH", 2), head("RPOP", 1), head("LLEN", 1)]

    def draw(self, n: int) -> Drawn:
        indexes = self.keys.draw(n)
        draws = self.rng.random(n)
        ids = np.full(n, 2, dtype=np.int64)  # LLEN unless decided otherwise below
        changes = np.flatnonzero(draws >= 0.2)
        # Push or pop depends on the list's length at that moment, so it is decided one
        # operation at a time (LLEN, a fifth of them, needs no decision).
        lengths, limit = self._lengths, self._limit
        pushes = []
        append = pushes.append
        for index, wants_push in zip(indexes[changes].tolist(), (draws[changes] < 0.6).tolist()):
            length = lengths[index]
            if (wants_push and length < limit) or not length:
                lengths[index] = length + 1
                append(0)
            else:
                lengths[index] = length - 1
                append(1)
        ids[changes] = pushes
        keys = self._names.bulks(indexes)
        values = self.values.draw(n)
        heads = self._heads
        commands = [heads[0] + key + value if i == 0 else heads[i] + key
                    for i, key, value in zip(ids.tolist(), keys, values)]
        return Drawn(ids, commands, self.routes(self._names, indexes))

    def preload_commands(self, index: int) -> list[tuple]:
        return [("LPUSH", self.key_at(index), self.values.next_value())]


class SetOperations(_MemberWorkload):
    commands = ("SADD", "SREM", "SCARD", "SISMEMBER")
    config_keys = MEMBERS_KEY
    shapes = (("SADD", 0.35), ("SREM", 0.2), ("SCARD", 0.15), ("SISMEMBER", 0.3))

    def __init__(self, spec):
        super().__init__(spec)
        self._heads = [head("SADD", 2), head("SREM", 2), head("SCARD", 1), head("SISMEMBER", 2)]

    def draw(self, n: int) -> Drawn:
        shapes = self.draw_shapes(n)
        indexes = self.keys.draw(n)
        keys = self._names.bulks(indexes)
        members = self.draw_members(n)
        heads = self._heads
        commands = [heads[s] + key if s == 2 else heads[s] + key + member
                    for s, key, member in zip(shapes.tolist(), keys, members)]
        return self.finish(shapes, indexes, commands)

    def preload_commands(self, index: int) -> list[tuple]:
        return [("SADD", self.key_at(index), *self._members[:10])]


class SortedSetOperations(_MemberWorkload):
    """ZADD / ZREM / ZCARD / ZRANGE by rank (0..9) and by score (a window of 100)."""

    commands = ("ZADD", "ZREM", "ZCARD", "ZRANGE")
    config_keys = MEMBERS_KEY
    shapes = (("ZADD", 0.35), ("ZREM", 0.15), ("ZCARD", 0.1), ("ZRANGE", 0.2), ("ZRANGE", 0.2))

    def __init__(self, spec):
        super().__init__(spec)
        self._heads = [head("ZADD", 3), head("ZREM", 2), head("ZCARD", 1), head("ZRANGE", 3), head("ZRANGE", 7)]
        self._by_rank = bulk(b"0") + bulk(b"9")
        self._by_score_tail = bulk(b"BYSCORE") + bulk(b"LIMIT") + bulk(b"0") + bulk(b"10")

    def draw(self, n: int) -> Drawn:
        shapes = self.draw_shapes(n)
        indexes = self.keys.draw(n)
        keys = self._names.bulks(indexes)
        members = self.draw_members(n)
        numbers = self.rng.integers(0, 1000, n).tolist()  # a score, or the low end of a window
        heads, by_rank, by_score = self._heads, self._by_rank, self._by_score_tail
        commands = []
        append = commands.append
        for s, key, member, number in zip(shapes.tolist(), keys, members, numbers):
            if s == 0:
                append(heads[0] + key + _NUMBERS[number] + member)
            elif s == 1:
                append(heads[1] + key + member)
            elif s == 2:
                append(heads[2] + key)
            elif s == 3:
                append(heads[3] + key + by_rank)
            else:
                low = number % 900
                append(heads[4] + key + _NUMBERS[low] + _NUMBERS[low + 100] + by_score)
        return self.finish(shapes, indexes, commands)

    def preload_commands(self, index: int) -> list[tuple]:
        pairs = [part for number, member in enumerate(self._members[:10]) for part in (b"%d" % number, member)]
        return [("ZADD", self.key_at(index), *pairs)]


class HashOperations(_MemberWorkload):
    commands = ("HSET", "HGET", "HDEL", "HGETALL")
    config_keys = HASH_FIELDS_KEY
    shapes = (("HSET", 0.35), ("HGET", 0.4), ("HDEL", 0.1), ("HGETALL", 0.15))
    member_count_key = "hash_fields"

    def __init__(self, spec):
        super().__init__(spec)
        self._heads = [head("HSET", 3), head("HGET", 2), head("HDEL", 2), head("HGETALL", 1)]

    def draw(self, n: int) -> Drawn:
        shapes = self.draw_shapes(n)
        indexes = self.keys.draw(n)
        keys = self._names.bulks(indexes)
        fields = self.draw_members(n)
        values = self.values.draw(n)
        heads = self._heads
        commands = [heads[0] + key + field + value if s == 0 else heads[s] + key if s == 3 else heads[s] + key + field
                    for s, key, field, value in zip(shapes.tolist(), keys, fields, values)]
        return self.finish(shapes, indexes, commands)

    def preload_commands(self, index: int) -> list[tuple]:
        value = self.values.next_value()
        return [("HSET", self.key_at(index), *[part for field in self._members for part in (field, value)])]
