"""Workloads on Redis collections: lists, sets, sorted sets and hashes.

Each keeps its keys' memory bounded: lists by tracking their lengths (each thread owns
its lists), sets and sorted sets by drawing members from `members` names, hashes by
drawing fields from `hash_fields` names.
"""

from __future__ import annotations

from workloads.base import Workload

# Scores and score windows, encoded once.
_NUMBERS = [b"%d" % number for number in range(1101)]


def _weighted(rng, choices):
    """choices: ((cumulative bound, name), ...) ending at 1.0."""
    draw = rng.random()
    for bound, name in choices:
        if draw < bound:
            return name
    return choices[-1][1]


class ListOperations(Workload):
    """LPUSH / RPOP / LLEN. A thread pushes only while its list is below
    list_max_length and pops only what it pushed, so lists stay bounded."""

    commands = ("LPUSH", "RPOP", "LLEN")
    owns_keys = True

    def __init__(self, spec):
        super().__init__(spec)
        self._lengths: dict[int, int] = {}
        self._limit = self.config.list_max_length

    def next_command(self) -> tuple:
        index = self.keys.next_index()
        key = self.key_at(index)
        length = self._lengths.get(index, 0)
        draw = self.rng.random()
        if draw < 0.2:
            return ("LLEN", key)
        if (draw < 0.6 and length < self._limit) or length == 0:
            self._lengths[index] = length + 1
            return ("LPUSH", key, self.values.next_value())
        self._lengths[index] = length - 1
        return ("RPOP", key)

    def preload_commands(self, index: int) -> list[tuple]:
        return [("LPUSH", self.key_at(index), self.values.next_value())]


class _MemberWorkload(Workload):
    member_count_key = "members"

    def __init__(self, spec):
        super().__init__(spec)
        count = getattr(self.config, self.member_count_key)
        self._members = [b"m%d" % number for number in range(count)]

    def member(self) -> bytes:
        return self._members[self.rng.randrange(len(self._members))]


class SetOperations(_MemberWorkload):
    commands = ("SADD", "SREM", "SCARD", "SISMEMBER")
    _mix = ((0.35, "SADD"), (0.55, "SREM"), (0.7, "SCARD"), (1.0, "SISMEMBER"))

    def next_command(self) -> tuple:
        name = _weighted(self.rng, self._mix)
        if name == "SCARD":
            return ("SCARD", self.key())
        return (name, self.key(), self.member())

    def preload_commands(self, index: int) -> list[tuple]:
        return [("SADD", self.key_at(index), *self._members[:10])]


class SortedSetOperations(_MemberWorkload):
    """ZADD / ZREM / ZCARD / ZRANGE by rank (0..9) and by score (a window of 100)."""

    commands = ("ZADD", "ZREM", "ZCARD", "ZRANGE")
    _mix = ((0.35, "ZADD"), (0.5, "ZREM"), (0.6, "ZCARD"), (0.8, "ZRANGE"), (1.0, "ZRANGEBYSCORE"))

    def next_command(self) -> tuple:
        name = _weighted(self.rng, self._mix)
        key = self.key()
        if name == "ZADD":
            return ("ZADD", key, _NUMBERS[self.rng.randrange(1000)], self.member())
        if name == "ZREM":
            return ("ZREM", key, self.member())
        if name == "ZCARD":
            return ("ZCARD", key)
        if name == "ZRANGE":
            return ("ZRANGE", key, b"0", b"9")
        low = self.rng.randrange(900)
        return ("ZRANGE", key, _NUMBERS[low], _NUMBERS[low + 100], b"BYSCORE", b"LIMIT", b"0", b"10")

    def preload_commands(self, index: int) -> list[tuple]:
        pairs = [part for number, member in enumerate(self._members[:10]) for part in (b"%d" % number, member)]
        return [("ZADD", self.key_at(index), *pairs)]


class HashOperations(_MemberWorkload):
    commands = ("HSET", "HGET", "HDEL", "HGETALL")
    member_count_key = "hash_fields"
    _mix = ((0.35, "HSET"), (0.75, "HGET"), (0.85, "HDEL"), (1.0, "HGETALL"))

    def next_command(self) -> tuple:
        name = _weighted(self.rng, self._mix)
        key = self.key()
        if name == "HSET":
            return ("HSET", key, self.member(), self.values.next_value())
        if name == "HGETALL":
            return ("HGETALL", key)
        return (name, key, self.member())

    def preload_commands(self, index: int) -> list[tuple]:
        value = self.values.next_value()
        return [("HSET", self.key_at(index), *[part for field in self._members for part in (field, value)])]
