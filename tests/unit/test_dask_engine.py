"""The Dask engine's pure parts: which workers run the shards, what each shard is
told, and the merged live line."""

from __future__ import annotations

from harness import histogram
from harness.dask_engine import Shard, merged_line, pick_workers, shard_environment
from harness.settings import resolve


def test_shards_go_to_distinct_hosts_before_sharing_one():
    workers = {"tcp://a:1": {"host": "a"}, "tcp://a:2": {"host": "a"}, "tcp://b:1": {"host": "b"}}
    assert pick_workers(workers, 2) == [("tcp://a:1", "a"), ("tcp://b:1", "b")]
    assert [address for address, _ in pick_workers(workers, 3)] == ["tcp://a:1", "tcp://b:1", "tcp://a:2"]
    assert len(pick_workers(workers, 5)) == 3  # never the same worker twice


def test_a_shard_gets_the_configuration_but_not_the_coordinators_own_keys():
    env = {"HARNESS_KEYSPACE": "5000", "HARNESS_OUTPUT": "/coordinator/only.json", "PATH": "/bin"}
    options = {"rate": "1000", "dask": "tcp://s:8786", "shards": "2", "csv": "x.csv", "keyspace": "7000"}
    config = resolve(None, env, options)
    shard = shard_environment(config, options, env, "abc123", 1)
    assert shard["HARNESS_KEYSPACE"] == "7000"  # the option wins over the variable, as in the coordinator
    assert shard["HARNESS_RATE"] == "1000"
    assert shard["HARNESS_SHARD"] == "1/2" and shard["HARNESS_RUN_ID"] == "abc123"
    assert shard["HARNESS_DASK"] == "" and shard["HARNESS_CSV"] == "" and shard["HARNESS_SHARDS"] == "1"
    assert "HARNESS_OUTPUT" not in shard and "PATH" not in shard
    # what a shard is told resolves to the same workload settings
    shard_config = resolve(None, {**shard, "HARNESS_START_AT": "stdin"}, {})
    assert (shard_config.keyspace, shard_config.rate, shard_config.dask) == (7000, 1000, "")


def test_the_live_line_adds_the_shards_and_merges_their_latency():
    a, b = {}, {}
    histogram.record(a, 100, 99)
    histogram.record(b, 5000, 1)
    shards = [Shard(0, "w0", "h"), Shard(1, "w1", "h")]
    for shard, counts, ops in ((shards[0], a, 990), (shards[1], b, 10)):
        shard.progress = {"ops": ops, "rate": ops / 2, "errors": 0,
                          "latency": {str(index): n for index, n in counts.items()}}
    line = merged_line(shards, 2.0)
    assert "2/2 shards" in line and "1,000 ops" in line and "500 ops/s" in line
    # p50 from shard 0's values, max from shard 1's: one histogram of both
    assert "p50 0.100" in line and "max 5.00" in line
