"""What a workload's batches hold, checked by parsing their bytes as the server would:
every command well-formed, named as its id says, on a key of the run's keyspace, with
operations and request bytes per id that add up to the batch (workloads.base)."""

from collections import Counter

import hiredis
import numpy as np
import pytest

from harness.settings import resolve
from workloads import WorkloadFactory
from workloads.base import WorkloadSpec
from workloads.keys import WHOLE_NAMES, key_names

PREFIX = b"t:"
CASES = [
    ("high_throughput", {}),
    ("basic_rw", {}),
    ("list_operations", {}),
    ("set_operations", {}),
    ("sorted_set_operations", {}),
    ("hash_operations", {}),
    ("pipeline", {}),
    ("pipeline", {"transaction": "true"}),
    ("custom", {"commands": "3 GET {key}\n2 SET {key:s} {value}\n1 ZADD {key:z} {int:0:10} {member}\n"
                            "1 HSET {key:h} {field} v{int:5:5000000}\n1 PING"}),
]


def parse(data: bytes) -> list[list[bytes]]:
    reader = hiredis.Reader()
    reader.feed(data)
    commands = []
    while (command := reader.gets()) is not False:
        commands.append(command)
    return commands


def key_number(key: bytes, keyspace: int) -> int:
    assert key.startswith(PREFIX)
    number = int(key.rsplit(b":", 1)[-1].split(b"}")[-1])
    assert 0 <= number < keyspace
    return number


@pytest.mark.parametrize("keyspace", [1000, WHOLE_NAMES * 3 + 17, 3_000_017])
@pytest.mark.parametrize("pipeline", [1, 16])
@pytest.mark.parametrize("cluster", [False, True])
@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{'-'.join(o)}" for n, o in CASES])
def test_batches_hold_exactly_the_commands_their_ids_say(name, options, pipeline, keyspace, cluster):
    settings = {"workload": name, "keyspace": str(keyspace), "pipeline": str(pipeline),
                "value_size": "8:50,100-300:50", **options}
    config = resolve(None, {}, settings)
    workload = WorkloadFactory.create(name, WorkloadSpec(config=config, key_prefix=PREFIX, seed=3, cluster=cluster))
    names, large = workload.commands, 0
    radix = key_names(PREFIX, keyspace).radix  # keys from here on are made of two fragments
    for _ in range(80):
        batch = workload.next_batch(pipeline, 0)
        commands = parse(batch.data)
        assert len(commands) == len(batch.ids) == len(batch)
        assert [command[0].decode().upper() for command in commands] == [names[i] for i in batch.ids]
        ops, sent = Counter(), Counter()
        for name_id, count, size in batch.per_id:
            ops[name_id], sent[name_id] = count, size
        assert ops == Counter(batch.ids)
        assert sum(sent.values()) == len(batch.data)
        for command in commands:
            if command[0] not in (b"MULTI", b"EXEC", b"PING"):
                large += key_number(command[1], keyspace) >= radix
        if cluster:
            assert b"".join(batch.commands) == batch.data
            assert [parse(command)[0] for command in batch.commands] == commands
            for command, key in zip(commands, batch.keys):
                if command[0] not in (b"MULTI", b"EXEC", b"PING"):
                    assert key == command[1]
        else:
            assert batch.commands is None and batch.keys is None
    if keyspace > WHOLE_NAMES:
        assert large  # names made from two fragments were drawn and parse


@pytest.mark.parametrize("keyspace", [1, 10, WHOLE_NAMES, WHOLE_NAMES + 1, 1_000_000, 10_000_000, 123_456_789])
def test_every_key_name_is_its_number_whole_however_it_is_split(keyspace):
    names = key_names(b"run:key:", keyspace)
    numbers = {0, 1, 9, 10, 99, 100, 999, 1000, 1001, 9999, 10_000, 10_001, 99_999, 100_000, 999_999, 1_000_000,
               names.radix - 1, names.radix, names.radix + 1, keyspace // 2, keyspace - 2, keyspace - 1}
    indexes = np.array(sorted(k for k in numbers if 0 <= k < keyspace), dtype=np.int64)
    columns = names.columns(indexes)
    joined = [b"".join(parts) for parts in zip(*(items for items, _ in columns))]
    expected = [b"$%d\r\nrun:key:%d\r\n" % (len(b"run:key:%d" % k), k) for k in indexes.tolist()]
    assert joined == expected
    assert [int(sum(sizes)) for sizes in zip(*(lengths for _, lengths in columns))] == list(map(len, expected))
    # Where a command has no key, every column is the empty fragment.
    absent = names.columns(indexes, present=np.zeros(len(indexes), dtype=bool))
    assert all(item == b"" for items, _ in absent for item in items)
    if keyspace > WHOLE_NAMES:  # two small tables, not one of every name
        assert len(columns) == 2 and len(names.leads) + len(names.tails) < 25 * int(keyspace ** 0.5) + 2000


@pytest.mark.parametrize("keyspace,limit,distribution", [(1, 3, "uniform"), (10, 1, "uniform"), (1000, 5, "uniform"),
                                                         (100_000, 100, "uniform"), (100_000, 2, "zipfian")])
@pytest.mark.parametrize("partitions", [1, 3])
def test_list_pushes_and_pops_are_decided_as_one_at_a_time_would(keyspace, limit, distribution, partitions):
    """The list workload's block-wise decisions (rounds, or one by one) against a plain
    loop over the same draws: the same commands, and lengths that stay in [0, limit]."""
    config = resolve(None, {}, {"workload": "list_operations", "keyspace": str(keyspace),
                                "list_max_length": str(limit), "key_distribution": distribution})
    spec = WorkloadSpec(config=config, key_prefix=PREFIX, seed=5, partition=partitions - 1, partitions=partitions)
    workload = WorkloadFactory.create("list_operations", spec)
    lengths = Counter()
    for _ in range(40):
        for command in parse(workload.next_batch(16, 0).data):
            key = command[1]
            if command[0] == b"LLEN":
                continue
            push = lengths[key] == 0 or command[0] == b"LPUSH"
            assert push == (command[0] == b"LPUSH"), (command, lengths[key])
            assert push or lengths[key] > 0
            lengths[key] += 1 if push else -1
            assert 0 <= lengths[key] <= limit
            assert key_number(key, keyspace) % partitions == (partitions - 1) % min(partitions, keyspace)
