"""Shards of one run (harness/shards.py): exact shares, key slices, the keys that
configure them and their refusals, seeds, run ids and the stdin start line. Nothing
here connects."""

import io
import os

import numpy as np
import pytest

from harness import barrier
from harness.cli import main
from harness.coordinator import run_id_of
from harness.errors import ConfigError, HarnessError
from harness.plan import make_plan
from harness.run_user import parse_name, user_name
from harness.settings import resolve
from harness.shards import key_slice, share, stream_seed
from workloads.keys import make_picker

START = "2026-11-27T00:00:00Z"


def config(env=None, **options):
    return resolve(None, env or {}, {key: str(value) for key, value in options.items()})


@pytest.mark.parametrize("total", [0, 1, 7, 200_000, 200_001, 10**9 + 3])
@pytest.mark.parametrize("count", [1, 2, 3, 7, 64])
def test_shares_differ_by_at_most_one_and_add_up_exactly(total, count):
    shares = [share(total, index, count) for index in range(count)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1


@pytest.mark.parametrize("keyspace", [1, 5, 10, 9_999, 10_000, 1_000_003])
@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_key_slices_are_disjoint_contiguous_and_cover_the_keyspace(keyspace, count):
    slices = [key_slice(keyspace, index, count) for index in range(count)]
    assert slices[0][0] == 0 and slices[-1][1] == keyspace
    for (_, high), (low, _) in zip(slices, slices[1:]):
        assert high == low  # contiguous, no gap, no overlap
    assert all(high - low in (keyspace // count, keyspace // count + 1) for low, high in slices)


@pytest.mark.parametrize("keyspace, shards, threads", [(10_000, 2, 4), (1_001, 3, 2), (97, 4, 3)])
def test_sequential_keys_of_all_shards_and_threads_cover_the_keyspace_once_per_pass(keyspace, shards, threads):
    settings = config(keyspace=keyspace, key_distribution="sequential")
    seen = []
    for shard in range(shards):
        low, high = key_slice(keyspace, shard, shards)
        shard_keys = []
        for thread in range(threads):
            picker = make_picker(settings, np.random.default_rng(0), thread, threads, key_range=(low, high))
            count = len(range(low + thread, high, threads))
            shard_keys += picker.draw(count).tolist()
        assert all(low <= key < high for key in shard_keys)  # the shard stays in its slice
        seen += shard_keys
    assert sorted(seen) == list(range(keyspace))


def test_owned_keys_stay_in_the_shard_slice_and_apart_per_thread():
    settings = config(keyspace=1_000)
    owned = []
    for shard in range(2):
        low, high = key_slice(1_000, shard, 2)
        for thread in range(3):
            picker = make_picker(settings, np.random.default_rng(thread), thread, 3, owns_keys=True,
                                 key_range=(low, high))
            keys = set(picker.draw(20_000).tolist())
            assert keys <= set(range(low + thread, high, 3))
            owned.append(keys)
    assert sum(len(keys) for keys in owned) == len(set().union(*owned))


def test_plan_gives_each_shard_its_share_of_requests_and_rate():
    plans = [make_plan(config(requests=200_001, rate=10_000, shard=f"{i}/2", start_at=START,
                              client_instances=3, threads_per_client=2), 2) for i in range(2)]
    assert [sum(s.quota for s in plan.shares) for plan in plans] == [100_001, 100_000]
    for plan in plans:
        assert sum(s.rate for s in plan.shares) == pytest.approx(5_000)
        assert plan.rate_scale * plan.total_threads * 10_000 == pytest.approx(5_000)
    assert plans[1].keys == (5_000, 10_000)


def test_seeds_differ_per_run_shard_thread_and_stream():
    seeds = {stream_seed(run, shard, thread, stream) for run in ("a", "b") for shard in range(3)
             for thread in range(4) for stream in ("driver", "workload")}
    assert len(seeds) == 2 * 3 * 4 * 2
    assert stream_seed("a", 1, 2, "driver") == stream_seed("a", 1, 2, "driver")


def test_shards_derive_one_run_id_from_the_test_and_start_at(tmp_path):
    shard0 = config(shard="0/2", start_at=START, requests=1000, output=str(tmp_path / "a.json"))
    shard1 = config(shard="1/2", start_at="1795737600", requests=1000, output=str(tmp_path / "b.json"),
                    port=6380)
    assert run_id_of(shard0) == run_id_of(shard1)  # the same instant, written two ways
    assert run_id_of(config(shard="0/2", start_at=START, requests=1001)) != run_id_of(shard0)
    assert run_id_of(config(shard="0/2", start_at="1795737601", requests=1000)) != run_id_of(shard0)
    assert run_id_of(config(shard="0/2", start_at=START, run_id="nightly-42")) == "nightly-42"


def test_index_from_job_completion_index():
    assert config({"JOB_COMPLETION_INDEX": "3"}, shard="/4", start_at=START).shard.index == 3
    assert config({"HARNESS_SHARD": "/4", "JOB_COMPLETION_INDEX": "0"}, start_at=START).shard.index == 0


@pytest.mark.parametrize("env, options, message", [
    ({}, dict(shard="2/2"), "invalid shard = '2/2' (option --shard): expected I/N with 0 <= I < N"),
    ({}, dict(shard="1"), "invalid shard = '1' (option --shard)"),
    ({}, dict(shard="/3", start_at=START), "takes the shard's index from JOB_COMPLETION_INDEX, which is not set"),
    ({"JOB_COMPLETION_INDEX": "3"}, dict(shard="/3", start_at=START),
     "JOB_COMPLETION_INDEX = '3' is not a shard of 3"),
    ({}, dict(shard="0/2"), "shard = 0/2 (option --shard) needs start_at"),
    ({}, dict(shard="0/2", start_at="stdin"), "with start_at = stdin needs run_id"),
    ({}, dict(shard="0/2", start_at=START, duration=0), "cleanup = true (default) in a sharded run needs a duration"),
    ({}, dict(shard="0/2", start_at=START, workload="pub_sub"), "cannot be sharded"),
    ({}, dict(start_at="2026-11-27T00:00:00"), "this one has no timezone"),
    ({}, dict(start_at="soon"), "invalid start_at = 'soon'"),
    ({}, dict(start_at="stdin", output="-"), "prints harness-ready on standard output"),
    ({}, dict(run_id="my run"), "invalid run_id = 'my run'"),
])
def test_bad_shard_settings_are_one_line_and_status_2(capsys, env, options, message):
    argv = ["run", "--dry-run"] + [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    status = main(argv, out=io.StringIO(), env=env)
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(ConfigError):
        config(env, **options)


def test_run_user_names_with_a_given_run_id_parse_back():
    name = user_name("nightly-4.2_x", 1_700_000_000, 1234, "abcdef12")
    assert parse_name(name) == ("nightly-4.2_x", 1_700_000_000, 1234, "abcdef12")


def test_stdin_start_line(tmp_path):
    read, write = os.pipe()
    os.write(write, b"1795737600.25\n")
    out = io.StringIO()
    assert barrier.read_start_line(out, read, lambda: False) == 1795737600.25
    assert out.getvalue() == "harness-ready\n"
    os.close(write)
    os.close(read)


@pytest.mark.parametrize("data, message", [(b"", "closed before it gave the start instant"),
                                           (b"tomorrow\n", "expected one line holding the start instant"),
                                           (b"-5\n", "expected one line holding the start instant")])
def test_stdin_start_line_refuses_what_is_not_an_instant(data, message):
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    with pytest.raises(HarnessError, match=message):
        barrier.read_start_line(io.StringIO(), read, lambda: False)
    os.close(read)


@pytest.mark.parametrize("data, released", [(b"cleanup\n", True), (b"keep\n", False), (b"", False),
                                            (b"cleanup-but-not-quite\n", False)])
def test_shard_0_cleans_up_only_when_told_every_shard_has_ended(data, released):
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)  # standard input closing without the line leaves the keys
    out = io.StringIO()
    assert barrier.cleanup_released(out, read) is released
    assert out.getvalue() == "harness-cleanup\n"
    os.close(read)


def test_a_sharded_run_released_through_stdin_needs_no_duration_for_cleanup():
    assert config(shard="0/2", start_at="stdin", run_id="r1", duration=0, requests=1000).cleanup


def test_a_start_already_past_is_late():
    with pytest.raises(HarnessError, match="was already past when every connection was ready"):
        barrier.start_instant(config(start_at="1700000000"), lambda: False)


def test_every_stage_rate_is_shared_over_shards_and_threads():
    from harness.pacing import RateProfile

    settings = [config(rate=1000, stages="2s:3000,2s:3000", shard=f"{i}/3", start_at=START, client_instances=2)
                for i in range(3)]
    total = 0.0
    for shard in settings:
        plan = make_plan(shard, 2)
        total += RateProfile.of(shard).scaled(plan.rate_scale).rate_at(3.0) * plan.total_threads
    assert total == pytest.approx(3000)
