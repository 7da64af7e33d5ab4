"""Workloads on Redis collections: lists, sets, sorted sets and hashes.

Each keeps its keys' memory bounded: lists by tracking their lengths (each thread owns
its lists), sets and sorted sets by drawing members from `members` names, hashes by
drawing fields from `hash_fields` names.

Each draws a block of operations at once: command shapes by their weights, keys by the
distribution, members and values from encoded pools; a command is its shape's encoded
head and argument fragments, one column per argument position (workloads.base: Drawn).
"""

from __future__ import annotations

import numpy as np

from harness import parsers as p
from harness import schema
from workloads.base import Drawn, Fragments, Workload, bulk, head

# Also read by the custom workload's {member} and {field}.
MEMBERS_KEY = {
    "members": (int, schema.key("workload", "100", p.integer(1), "distinct members per set or sorted set", "N")),
}
HASH_FIELDS_KEY = {
    "hash_fields": (int, schema.key("workload", "10", p.integer(1), "distinct fields per hash", "N")),
}

# Scores and score windows, encoded once.
# The list workload decides a block's changes in rounds of at least this many (see
# ListOperations.decide).
ROUND_AT_LEAST = 64

_NUMBERS = Fragments([bulk(b"%d" % number) for number in range(1101)])


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

    def finish(self, shapes: np.ndarray, indexes: np.ndarray, arguments: list) -> Drawn:
        """The draw: each shape's head, its key, then the argument columns."""
        ids = np.asarray(self._shape_ids, dtype=np.int64)[shapes]
        columns = [self._heads.take(shapes), *self._names.columns(indexes), *arguments]
        return Drawn.of(ids, columns, self.routes(self._names, indexes))


class _MemberWorkload(_ShapedWorkload):
    member_count_key = "members"
    member_letter = b"m"

    def __init__(self, spec):
        super().__init__(spec)
        count = getattr(self.config, self.member_count_key)
        self._members = [self.member_letter + b"%d" % number for number in range(count)]
        self._member_bulks = Fragments([bulk(member) for member in self._members])

    def draw_members(self, n: int, present=None) -> tuple[np.ndarray, np.ndarray]:
        """A column of n members (empty where `present` is False)."""
        return self._member_bulks.take(self.rng.integers(0, len(self._members), n), present)


class ListOperations(_ShapedWorkload):
    """LPUSH / RPOP / LLEN. A thread pushes only while its list is below
    list_max_length and pops only what it pushed, so lists stay bounded. (Which of
    LPUSH and RPOP an operation is depends on the list's length then; see `decide`.)"""

    commands = ("LPUSH", "RPOP", "LLEN")
    config_keys = {
        "list_max_length": (int, schema.key("workload", "100", p.integer(1),
                                            "longest list the list workload makes", "N")),
    }
    shapes = (("LPUSH", 0.4), ("RPOP", 0.4), ("LLEN", 0.2))
    owns_keys = True

    def __init__(self, spec):
        super().__init__(spec)
        # The length of each list this thread owns, by its number in the share the key
        # picker draws from (start + number * step). np.zeros maps untouched pages
        # lazily, so lists never drawn cost nothing.
        self._start, self._step = self.keys.start, self.keys.step
        owned = max(1, -(-(self.config.keyspace - self._start) // self._step))
        self._lengths = np.zeros(owned, dtype=np.int32 if self.config.list_max_length < 2**31 else np.int64)
        self._limit = self.config.list_max_length
        self._heads = Fragments([head("LPUSH", 2), head("RPOP", 1), head("LLEN", 1)])

    def draw(self, n: int) -> Drawn:
        indexes = self.keys.draw(n)
        draws = self.rng.random(n)
        ids = np.full(n, 2, dtype=np.int64)  # LLEN unless decided otherwise below
        changes = np.flatnonzero(draws >= 0.2)
        ids[changes] = self.decide((indexes[changes] - self._start) // self._step, draws[changes] < 0.6)
        return self.finish(ids, indexes, [self.values.take(n, ids == 0)])

    def decide(self, lists: np.ndarray, wants_push: np.ndarray) -> np.ndarray:
        """0 (LPUSH) or 1 (RPOP) for each change, in order: push when it wants to and
        the list is below the limit, or when the list is empty; else pop. The lengths
        move as they would one operation at a time: the changes are taken in rounds,
        round r holding each list's r-th change of the block, so no list appears twice
        in a round and a round is decided at once. Lists are independent of each other,
        so once rounds get small (few lists, a hot key: a round costs about as much as
        ROUND_AT_LEAST changes taken one at a time) the changes left are taken one at a
        time afterwards."""
        if not len(lists):
            return np.empty(0, dtype=np.int64)
        order = np.argsort(lists, kind="stable")
        ordered = lists[order]
        first = np.empty(len(lists), dtype=bool)  # where a list's changes start, in list order
        first[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        positions = np.arange(len(lists))
        ranks = np.empty(len(lists), dtype=np.int64)
        ranks[order] = positions - np.maximum.accumulate(np.where(first, positions, 0))
        lengths, limit = self._lengths, self._limit
        choices = np.empty(len(lists), dtype=np.int64)
        sizes = np.bincount(ranks)
        rounds = int(np.argmax(sizes < ROUND_AT_LEAST)) if sizes[-1] < ROUND_AT_LEAST else len(sizes)
        for rank in range(rounds):
            at = np.flatnonzero(ranks == rank)
            which = lists[at]
            current = lengths[which]
            push = (wants_push[at] & (current < limit)) | (current == 0)
            lengths[which] = current + np.where(push, 1, -1)
            choices[at] = np.where(push, 0, 1)
        rest = np.flatnonzero(ranks >= rounds)
        if len(rest):
            choices[rest] = self._decide_one_by_one(lists[rest], wants_push[rest])
        return choices

    def _decide_one_by_one(self, lists: np.ndarray, wants_push: np.ndarray) -> list[int]:
        unique = np.unique(lists)
        lengths = dict(zip(unique.tolist(), self._lengths[unique].tolist()))  # plain ints: cheaper one by one
        limit = self._limit
        choices = []
        append = choices.append
        for number, wants in zip(lists.tolist(), wants_push.tolist()):
            length = lengths[number]
            if (wants and length < limit) or not length:
                lengths[number] = length + 1
                append(0)
            else:
                lengths[number] = length - 1
                append(1)
        self._lengths[unique] = list(lengths.values())
        return choices

    def preload_commands(self, index: int) -> list[tuple]:
        return [("LPUSH", self.key_at(index), self.values.next_value())]


class SetOperations(_MemberWorkload):
    commands = ("SADD", "SREM", "SCARD", "SISMEMBER")
    config_keys = MEMBERS_KEY
    shapes = (("SADD", 0.35), ("SREM", 0.2), ("SCARD", 0.15), ("SISMEMBER", 0.3))

    def __init__(self, spec):
        super().__init__(spec)
        self._heads = Fragments([head("SADD", 2), head("SREM", 2), head("SCARD", 1), head("SISMEMBER", 2)])

    def draw(self, n: int) -> Drawn:
        shapes = self.draw_shapes(n)
        indexes = self.keys.draw(n)
        return self.finish(shapes, indexes, [self.draw_members(n, shapes != 2)])

    def preload_commands(self, index: int) -> list[tuple]:
        return [("SADD", self.key_at(index), *self._members[:10])]


class SortedSetOperations(_MemberWorkload):
    """ZADD / ZREM / ZCARD / ZRANGE by rank (0..9) and by score (a window of 100)."""

    commands = ("ZADD", "ZREM", "ZCARD", "ZRANGE")
    config_keys = MEMBERS_KEY
    shapes = (("ZADD", 0.35), ("ZREM", 0.15), ("ZCARD", 0.1), ("ZRANGE", 0.2), ("ZRANGE", 0.2))

    def __init__(self, spec):
        super().__init__(spec)
        self._heads = Fragments([head("ZADD", 3), head("ZREM", 2), head("ZCARD", 1), head("ZRANGE", 3),
                                 head("ZRANGE", 7)])
        # What follows the key of a ZRANGE by rank (shape 3), and by score (shape 4)
        # after its window: one table, indexed by shape - 3.
        self._tails = Fragments([bulk(b"0") + bulk(b"9"), bulk(b"BYSCORE") + bulk(b"LIMIT") + bulk(b"0") + bulk(b"10")])

    def draw(self, n: int) -> Drawn:
        shapes = self.draw_shapes(n)
        indexes = self.keys.draw(n)
        numbers = self.rng.integers(0, 1000, n)  # a score, or the low end of a window
        by_score = shapes == 4
        lows = np.where(by_score, numbers % 900, numbers)
        # ZADD key score member | ZREM key member | ZCARD key | ZRANGE key 0 9 |
        # ZRANGE key low low+100 BYSCORE LIMIT 0 10
        arguments = [_NUMBERS.take(lows, (shapes == 0) | by_score),
                     self.draw_members(n, shapes <= 1),
                     _NUMBERS.take(lows + 100, by_score),
                     self._tails.take(shapes - 3, shapes >= 3)]
        return self.finish(shapes, indexes, arguments)

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
        self._heads = Fragments([head("HSET", 3), head("HGET", 2), head("HDEL", 2), head("HGETALL", 1)])

    def draw(self, n: int) -> Drawn:
        shapes = self.draw_shapes(n)
        indexes = self.keys.draw(n)
        arguments = [self.draw_members(n, shapes != 3), self.values.take(n, shapes == 0)]
        return self.finish(shapes, indexes, arguments)

    def preload_commands(self, index: int) -> list[tuple]:
        value = self.values.next_value()
        return [("HSET", self.key_at(index), *[part for field in self._members for part in (field, value)])]
