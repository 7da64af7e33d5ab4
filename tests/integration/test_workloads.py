"""Every workload against a real server: the server's commandstats must agree with the
result file, and the harness must leave every key it did not create as it was."""

import json
import os
import subprocess

import pytest

from tests.conftest import (commandstats, REPO_ROOT, client_for, clean_env, fill_foreign_key, harness_command,
                            run_harness)
from workloads import WORKLOADS

# Commands the harness sends for its own purposes (connecting, checking, cleaning up,
# subscribing), not as operations. Redis 7 names subcommands "client|setname".
HOUSEKEEPING = {"HELLO", "PING", "INFO", "SCAN", "UNLINK", "CLIENT|SETNAME", "CLIENT|SETINFO",
                "COMMAND|GETKEYS", "SUBSCRIBE", "PSUBSCRIBE", "CLIENT", "COMMAND",
                # the per-run ACL user (harness.run_user) and the template check's COMMAND INFO
                "ACL|SETUSER", "ACL|DELUSER", "ACL|USERS", "ACL|WHOAMI", "ACL|GETUSER", "CLIENT|LIST",
                "COMMAND|INFO"}



def workload_commands(before, after):
    return {name: after[name] - before.get(name, 0) for name in after
            if name not in HOUSEKEEPING and after[name] - before.get(name, 0) > 0}


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_each_workload_agrees_with_commandstats(redis_server, tmp_path, workload):
    client = client_for(redis_server)
    before = commandstats(client)
    output = tmp_path / "result.json"
    done = run_harness("run", "-c", f"config/{workload}.ini", "--port", str(redis_server.port),
                       "--duration", "3", "--output", str(output), "--stats-interval", "1")
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["count"] > 0 and result["totals"]["errors"] == 0, result["totals"]
    sent = workload_commands(before, commandstats(client))
    expected = {name: block["count"] for name, block in result["commands"].items()}
    for name, count in result.get("preload", {}).items():
        expected[name] = expected.get(name, 0) + count
    assert sent == expected
    claimed = set(WORKLOADS[workload].commands) | {"MULTI", "EXEC"}
    assert set(result["commands"]) <= claimed or workload == "custom"
    assert result["totals"]["latency"]["count"] == result["totals"]["count"]
    assert client.dbsize() == 0  # cleanup removed every key of the run


def test_unrelated_keys_survive_every_workload(redis_server):
    client = client_for(redis_server)
    pipe = client.pipeline(transaction=False)
    for i in range(10_000):
        key = f"app:{i}" if i % 7 else f"harness:someone-else:{i}"  # even a look-alike prefix
        fill_foreign_key(pipe, key, i)
    pipe.execute()
    snapshot = {key: client.dump(key) for key in client.scan_iter(count=1000)}
    assert len(snapshot) == 10_000
    for workload in WORKLOADS:
        done = run_harness("run", "-c", f"config/{workload}.ini", "--port", str(redis_server.port),
                           "--duration", "1", "--output", "", "--keyspace", "2000")
        assert done.returncode == 0, (workload, done.stderr)
    after = {key: client.dump(key) for key in client.scan_iter(count=1000)}
    assert after == snapshot


def test_pub_sub_delivers_every_message_to_every_subscriber(redis_server, tmp_path):
    output = tmp_path / "result.json"
    done = run_harness("run", "--workload", "pub_sub", "--port", str(redis_server.port), "--requests", "10000",
                       "--duration", "0", "--subscribers", "2", "--output", str(output))
    assert done.returncode == 0, done.stderr
    pubsub = json.loads(output.read_text())["harness"]["pubsub"]
    assert pubsub["published"] == 10_000 and pubsub["expected"] == 20_000
    assert pubsub["received"] == 20_000 and pubsub["lost"] == 0 and pubsub["out_of_order"] == 0
    latency = pubsub["latency"]
    assert latency["count"] == 20_000 and 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert "lost 0" in done.stdout


def test_pub_sub_with_patterns_and_channels(redis_server, tmp_path):
    output = tmp_path / "result.json"
    done = run_harness("run", "--workload", "pub_sub", "--port", str(redis_server.port), "--requests", "3000",
                       "--duration", "0", "--subscribers", "1", "--channels", "3", "--pattern-subscribe", "true",
                       "--client-instances", "2", "--output", str(output))
    assert done.returncode == 0, done.stderr
    pubsub = json.loads(output.read_text())["harness"]["pubsub"]
    assert pubsub["expected"] == 6000 and pubsub["received"] == 6000 and pubsub["lost"] == 0


def test_pub_sub_reports_loss_when_a_subscriber_is_killed(redis_server, tmp_path):
    client = client_for(redis_server)
    output = tmp_path / "result.json"
    process = subprocess.Popen(
        harness_command("run", "--workload", "pub_sub", "--port", str(redis_server.port), "--rate", "2000",
                        "--duration", "4", "--subscribers", "2", "--stats-interval", "0.5", "--output", str(output)),
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    assert process.stdout.readline().startswith("[ ")
    victims = [entry for entry in client.client_list() if entry["name"].endswith("-sub0")]
    assert len(victims) == 1
    client.client_kill_filter(_id=victims[0]["id"])
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    pubsub = json.loads(output.read_text())["harness"]["pubsub"]
    assert pubsub["lost"] > 0 and pubsub["resubscribes"] >= 1
    assert pubsub["received"] + pubsub["lost"] == pubsub["expected"]
    assert f"lost {pubsub['lost']:,}" in out


def test_custom_template_outside_the_prefix_is_refused(redis_server):
    client = client_for(redis_server)
    client.set("precious", "data")
    done = run_harness("run", "--workload", "custom", "--port", str(redis_server.port), "--duration", "1",
                       "--commands", "1 GET {key}; 1 SET precious {value}")
    assert done.returncode == 2
    assert ("error: commands (option --commands): command template 'SET precious {value}' touches key "
            "'precious', which is outside the run's key prefix") in done.stderr
    assert client.get("precious") == b"data" and client.dbsize() == 1
    done = run_harness("run", "--workload", "custom", "--port", str(redis_server.port), "--duration", "1",
                       "--commands", "1 NOSUCHCOMMAND {key}")
    assert done.returncode == 2 and "the server refuses command template 'NOSUCHCOMMAND {key}'" in done.stderr


def test_preload_makes_reads_hit(redis_server, tmp_path):
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--workload", "high_throughput", "--preload", "true",
                       "--keyspace", "5000", "--client-instances", "2", "--requests", "20000", "--duration", "0",
                       "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    assert result["preload"] == {"SET": 5000}
    assert result["commands"]["GET"]["hit_rate"] == 1.0
    done = run_harness("run", "--port", str(redis_server.port), "--workload", "high_throughput",
                       "--keyspace", "100000", "--requests", "2000", "--read-ratio", "1", "--duration", "0",
                       "--output", str(output))
    assert json.loads(output.read_text())["harness"]["commands"]["GET"]["hit_rate"] == 0.0


@pytest.mark.parametrize("preset", sorted(os.listdir(os.path.join(REPO_ROOT, "config"))))
def test_every_preset_runs_as_it_is_on_the_embedded_server(preset, tmp_path):
    # Shortened, without a result file in the working tree, and without soak.ini's
    # thresholds (an empty HARNESS_THRESHOLDS replaces them; they are meant for an hour,
    # not 2 s on a busy CI box); everything else as shipped.
    done = run_harness("run", "-c", f"config/{preset}", "--url", "embedded", "--duration", "2", "--warmup", "0",
                       "--keyspace", "1000", "--stats-interval", "1", "--output", str(tmp_path / "result.json"),
                       env=clean_env(HARNESS_THRESHOLDS=""))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "result.json").read_text())["harness"]
    assert result["totals"]["count"] > 0 and result["totals"]["errors"] == 0
    assert "started a private redis-server" in done.stderr


@pytest.mark.parametrize("pipeline", ["1", "16"])
def test_uniform_draws_cover_the_keyspace_as_independent_draws_would(redis_server, tmp_path, pipeline):
    """S SETs over K keys, drawn uniformly and independently, touch K(1 - e^(-S/K))
    distinct keys. A sequence of keys that repeats within the run (as the ring of
    prepared batches did, reaching 86% of that) falls short."""
    import math

    keys, sets = 100_000, 500_000
    client = client_for(redis_server)
    done = run_harness("run", "--port", str(redis_server.port), "--workload", "high_throughput", "--read-ratio", "0",
                       "--keyspace", str(keys), "--requests", str(sets), "--duration", "0", "--pipeline", pipeline,
                       "--client-instances", "2", "--cleanup", "false", "--output", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    assert commandstats(client)["SET"] == sets
    expected = keys * (1 - math.exp(-sets / keys))  # 99,326
    assert abs(client.dbsize() - expected) <= 0.01 * expected, (client.dbsize(), expected)
