"""Shards of one run as plain `harness run --shard I/N` processes against one real
redis-server: exact shares, rates, start skew, the start barrier (an instant, stdin,
late), and no traffic of the harness's own through the server beyond a plain run's."""

import json
import select
import signal
import time

from hdrh.histogram import HdrHistogram

from tests.conftest import client_for, commandstats, run_harness, start_harness

WORKLOAD_COMMANDS = {"SET", "GET"}  # high_throughput
# Seconds ahead for a shared start: two interpreters start, connect and fork meanwhile.
LEAD = 6.0


def start_shard(server, index: int, count: int, start_at, output, *extra: str, stdin=None):
    args = ["run", "--port", str(server.port), "--shard", f"{index}/{count}", "--start-at", str(start_at),
            "--output", str(output), "--client-instances", "1", "--quiet", *extra]
    if stdin is None:
        return start_harness(*args)
    import subprocess

    from tests.conftest import REPO_ROOT, _STARTED, clean_env, harness_command

    process = subprocess.Popen(harness_command(*args), env=clean_env(), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    _STARTED.append(process)
    return process


def finish(processes, timeout=120):
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        outcomes.append((process.returncode, out, err))
    return outcomes


def result(path) -> dict:
    return json.loads(path.read_text())["harness"]


def stats_diff(before: dict, after: dict) -> dict:
    return {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name, 0)}


def test_two_shards_send_exactly_their_shares_and_nothing_else(redis_server, tmp_path):
    admin = client_for(redis_server)
    before = commandstats(admin)
    start_at = round(time.time() + LEAD, 3)
    outputs = [tmp_path / f"shard{i}.json" for i in range(2)]
    shards = [start_shard(redis_server, i, 2, start_at, outputs[i], "--requests", "200000", "--duration", "0",
                          "--cleanup", "false", "--run-id", "exact") for i in range(2)]
    for status, _, err in finish(shards):
        assert status == 0, err
    sharded = stats_diff(before, commandstats(admin))
    results = [result(path) for path in outputs]
    for index, shard in enumerate(results):
        assert shard["totals"]["count"] == 100_000 and shard["totals"]["errors"] == 0
        assert shard["run"]["shard"] == f"{index}/2" and shard["run"]["run_id"] == "exact"
        assert abs(shard["run"]["start_at"] - start_at) < 0.001
    for name in WORKLOAD_COMMANDS:
        assert sharded[name] == sum(shard["commands"][name]["count"] for shard in results)
    assert sum(sharded[name] for name in WORKLOAD_COMMANDS) == 200_000
    skew = abs(results[0]["run"]["first_operation_at"] - results[1]["run"]["first_operation_at"])
    print(f"start skew between 2 shards (first operations): {skew * 1000:.2f} ms")
    assert skew < 0.05

    # harness merge (one run id: no --force): counts equal the server's, percentiles
    # those of one histogram holding both shards' values.
    merged_path = tmp_path / "merged.json"
    merged_run = run_harness("merge", *map(str, outputs), "-o", str(merged_path))
    assert merged_run.returncode == 0, merged_run.stderr
    merged = json.loads(merged_path.read_text())
    for name in WORKLOAD_COMMANDS:
        assert merged["harness"]["commands"][name]["count"] == merged["ALL STATS"][name]["Count"] == sharded[name]
    assert merged["ALL STATS"]["Totals"]["Count"] == 200_000
    assert sorted(block["shard"] for block in merged["harness"]["shards"]) == ["0/2", "1/2"]
    documents = [json.loads(path.read_text()) for path in outputs]
    for name in (*WORKLOAD_COMMANDS, "Totals"):
        one = HdrHistogram(1, 60_000_000, 3)
        for document in documents:
            one.add(HdrHistogram.decode(
                document["ALL STATS"][name]["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"]))
        percentiles = merged["ALL STATS"][name]["Percentile Latencies"]
        for percentile in (50.0, 99.0, 99.9):
            assert percentiles[f"p{percentile:.3f}"] == one.get_value_at_percentile(percentile) / 1000, name

    # A plain run of the same test (with a run id of its own, so it checks its prefix
    # with SCAN as shard 0 does): the shards sent no command it does not, so no barrier
    # or preload-done traffic went through the server under test. CLIENT LIST: each
    # shard's pre-flight asks whether the other's ACL user is in use, as any two runs
    # side by side do (harness/run_user.py, remove_stale).
    before = commandstats(admin)
    done = run_harness("run", "--port", str(redis_server.port), "--requests", "200000", "--duration", "0",
                       "--cleanup", "false", "--client-instances", "1", "--quiet", "--run-id", "plain",
                       "--output", str(tmp_path / "plain.json"))
    assert done.returncode == 0, done.stderr
    plain = set(stats_diff(before, commandstats(admin))) | {"CLIENT|LIST"}
    assert set(sharded) - plain == set(), f"commands only the shards sent: {set(sharded) - plain}"


def test_a_rate_is_shared_and_shard_0_alone_preloads_and_cleans_up_after_the_last(redis_server, tmp_path):
    admin = client_for(redis_server)
    start_at = time.time() + LEAD
    outputs = [tmp_path / f"shard{i}.json" for i in range(2)]
    # socket_timeout bounds how long shard 0 waits before cleaning up (start + duration + bounds).
    shards = [start_shard(redis_server, i, 2, f"{start_at:.3f}", outputs[i], "--rate", "10000", "--duration", "10",
                          "--preload", "true", "--keyspace", "2000", "--socket-timeout", "2", "--log-level", "info") for i in range(2)]
    outcomes = finish(shards)
    for status, _, err in outcomes:
        assert status == 0, err
    results = [result(path) for path in outputs]
    rates = [shard["totals"]["ops_per_sec"] for shard in results]
    print(f"rate 10,000 ops/s over 2 shards: shard 0 {rates[0]:,.1f} ops/s, shard 1 {rates[1]:,.1f} ops/s, "
          f"sum {sum(rates):,.1f} ops/s")
    for rate in rates:
        assert abs(rate - 5_000) <= 0.02 * 5_000
    assert abs(sum(rates) - 10_000) <= 0.02 * 10_000
    merged_path = tmp_path / "merged.json"
    merged_run = run_harness("merge", *map(str, outputs), "-o", str(merged_path))
    assert merged_run.returncode == 0, merged_run.stderr
    merged_rate = json.loads(merged_path.read_text())["harness"]["totals"]["ops_per_sec"]
    print(f"merged: {merged_rate:,.1f} ops/s")
    assert abs(merged_rate - 10_000) <= 0.02 * 10_000
    assert results[0]["preload"] == {"SET": 2000} and "preload" not in results[1]
    # Shard 1 found the keyspace filled at the start, and nothing emptied it before its end.
    assert results[1]["commands"]["GET"]["hit_rate"] == 1.0
    assert "cleanup of keys under" in outcomes[1][2] and "is shard 0's" in outcomes[1][2]
    assert "cleanup: removed" in outcomes[0][2]
    assert admin.dbsize() == 0


def test_start_at_stdin_says_ready_once_connected_and_starts_at_the_instant_read(redis_server, tmp_path):
    admin = client_for(redis_server)
    output = tmp_path / "shard1.json"
    before = commandstats(admin)
    shard = start_shard(redis_server, 1, 2, "stdin", output, "--requests", "5000", "--duration", "0",
                        "--cleanup", "false", "--run-id", "released", stdin=True)
    deadline = time.monotonic() + 60
    line = ""
    while line != "harness-ready\n":
        assert time.monotonic() < deadline and shard.poll() is None, "no harness-ready line"
        if select.select([shard.stdout], [], [], 0.5)[0]:
            line = shard.stdout.readline()
    names = [entry["name"] for entry in admin.client_list()]
    assert sorted(name for name in names if name.startswith("harness-released-s1-0-")) == \
        sorted(f"harness-released-s1-0-{index}" for index in range(10))
    assert not WORKLOAD_COMMANDS & set(stats_diff(before, commandstats(admin)))  # nothing sent yet
    instant = time.time() + 0.5
    shard.stdin.write(f"{instant:.6f}\n")
    shard.stdin.flush()
    (status, _, err), = finish([shard])
    assert status == 0, err
    run = result(output)["run"]
    assert result(output)["totals"]["count"] == 2500  # shard 1's half of 5,000
    assert abs(run["start_at"] - instant) < 0.001
    assert run["first_operation_at"] >= instant - 0.001  # nothing before the instant read


def test_a_shard_not_ready_by_start_at_says_so_and_fails(redis_server, tmp_path):
    output = tmp_path / "late.json"
    redis_server.process.send_signal(signal.SIGSTOP)  # the pre-flight waits for its reply meanwhile
    try:
        shard = start_shard(redis_server, 1, 2, f"{time.time() + 1.5:.3f}", output, "--requests", "1000",
                            "--duration", "0", "--cleanup", "false", "--run-id", "late")
        time.sleep(3.0)
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    (status, _, err), = finish([shard])
    assert status == 3
    assert "shard 1/2 was not ready by start_at" in err and "it is late and does not run" in err
    assert "Traceback" not in err
    assert result(output)["exit"]["status"] == 3
    assert result(output)["totals"]["count"] == 0
