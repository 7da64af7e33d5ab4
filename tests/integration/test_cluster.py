"""Redis Cluster: three masters (and a replica where a failover needs one) started on
free ports with slots assigned by the test. Loads must spread over every master, the
counts must equal the masters' own commandstats, and slot migration and failover
mid-run must be survived with the redirections counted."""

import json
import time

import pytest
from redis.crc import key_slot

from tests.conftest import client_for, node_id, run_harness, start_harness, wait_for_cluster
from workloads import WORKLOADS

COMMANDS = ("GET", "SET", "INCR", "DEL")


def _calls(server) -> dict[str, int]:
    stats = client_for(server).info("commandstats")
    return {name: stats.get(f"cmdstat_{name.lower()}", {}).get("calls", 0) for name in COMMANDS}


def _delta_of(before: dict, server, name: str) -> int:
    return _operations(server).get(name, 0) - before.get(name, 0)


def _delta(before: dict, after: dict) -> dict:
    return {name: after[name] - before[name] for name in COMMANDS}


@pytest.mark.parametrize("workload, extra", [
    ("basic_rw", ()),
    ("pipeline", ("--pipeline", "16")),
    ("pipeline", ("--pipeline", "16", "--transaction", "true")),  # hash-tagged keys, one slot per batch
])
def test_load_spreads_over_every_master_and_counts_match_commandstats(cluster_factory, tmp_path, workload, extra):
    masters, _ = cluster_factory(3)
    before = [_calls(node) for node in masters]
    before_all = [_operations(node) for node in masters]
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(masters[0].port), "--workload", workload, "--requests", "30000",
                       "--duration", "0", "--client-instances", "2", "--connections-per-client", "4",
                       "--keyspace", "5000", "--output", str(output), *extra)
    assert done.returncode == 0, done.stderr
    assert "Redis Cluster: 3 masters" in done.stderr
    result = json.loads(output.read_text())["harness"]
    per_node = [_delta(b, _calls(node)) for b, node in zip(before, masters)]
    transactions = result["commands"].get("EXEC", {}).get("count", 0)
    assert result["totals"]["count"] - 2 * transactions == 30000 and result["totals"]["errors"] == 0
    # Every operation the harness counted is one the masters executed, command by command.
    for name in COMMANDS:
        counted = result["commands"].get(name, {}).get("count", 0)
        assert counted == sum(node[name] for node in per_node), name
    nodes = result["cluster"]["nodes"]
    # 4 threads x 7,500 operations in batches of 16: 469 transactions each.
    assert transactions == (4 * 469 if "--transaction" in extra else 0)
    for node, delta in zip(masters, per_node):
        served = sum(delta.values())
        assert served >= 0.2 * 30000, (node.port, served)
        multi_exec = nodes[f"127.0.0.1:{node.port}"]["count"] - served  # MULTI and EXEC of its batches
        assert multi_exec == (2 * _delta_of(before_all[masters.index(node)], node, "EXEC") if extra[2:] else 0)
    assert result["run"]["target"] == f"cluster://localhost:{masters[0].port}"
    assert "cluster: operations per master" in done.stdout
    for node in masters:  # cleanup went to every master
        assert client_for(node).dbsize() == 0


def _start_run(port, output, *extra):
    return start_harness("run", "--port", str(port), "--workload", "basic_rw", "--client-instances", "2",
                         "--connections-per-client", "4", "--output", str(output), "--stats-interval", "1", *extra)


def _owner(masters, slot: int):
    for node in masters:
        for start, end, *_ in client_for(node).execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(n for n in masters if n.port == int(_[0][1]))
    raise AssertionError(f"slot {slot} unowned")


def _migrate_slot(masters, slot: int, target, ask_window: float) -> None:
    """Move one slot the way redis-cli --cluster reshard does, keys one by one, with a
    pause while the slot is half moved (commands for moved keys get ASK then)."""
    source = _owner(masters, slot)
    src, dst = client_for(source), client_for(target)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(source))
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(target))
    while True:
        keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10)
        if not keys:
            break
        for key in keys:
            src.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "REPLACE", "KEYS", key)
        time.sleep(ask_window)
    # The new owner first, then the old one, then the rest: redis-cli's order.
    for node in [target, source] + [n for n in masters if n not in (target, source)]:
        client_for(node).execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id(target))


def test_slot_migration_mid_run_is_followed_with_ask_and_moved(cluster_factory, tmp_path):
    masters, _ = cluster_factory(3)
    before = [_calls(node) for node in masters]
    output = tmp_path / "result.json"
    run = _start_run(masters[0].port, output, "--duration", "12", "--keyspace", "200", "--key-prefix", "mig:",
                     "--rate", "8000")
    time.sleep(4)
    # The slots of the hottest keys move to the next master along.
    slots = sorted({key_slot(b"mig:%d" % i) for i in range(10)} | {key_slot(b"mig:n:%d" % i) for i in range(10)})
    for slot in slots:
        source = _owner(masters, slot)
        _migrate_slot(masters, slot, masters[(masters.index(source) + 1) % 3], ask_window=0.2)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    wait_for_cluster(masters)
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["errors"] == 0, result["totals"]["errors_by_type"]
    redirections = result["cluster"]["redirections"]
    assert redirections["ASK"] > 0 and redirections["MOVED"] > 0, redirections
    per_node = [_delta(b, _calls(node)) for b, node in zip(before, masters)]
    for name in COMMANDS:
        assert result["commands"].get(name, {}).get("count", 0) == sum(node[name] for node in per_node), name
    # Redirections appear per second in the time series.
    series = json.loads(output.read_text())["ALL STATS"]["Totals"]["Time-Serie"]
    assert sum(point.get("Redirections", {}).get("MOVED", 0) for point in series.values()) == redirections["MOVED"]
    assert sum(point.get("Redirections", {}).get("ASK", 0) for point in series.values()) == redirections["ASK"]


def test_master_failover_mid_run_is_followed(cluster_factory, tmp_path):
    masters, replicas = cluster_factory(3, replicas=1)
    old, new = masters[0], replicas[0]
    before = {node.port: _calls(node) for node in masters + replicas}
    output = tmp_path / "result.json"
    run = _start_run(masters[1].port, output, "--duration", "12", "--keyspace", "2000", "--rate", "6000")
    time.sleep(4)
    client_for(new).execute_command("CLUSTER", "FAILOVER")
    deadline = time.monotonic() + 15
    while client_for(new).info("replication")["role"] != "master":
        assert time.monotonic() < deadline, "the replica did not take over"
        time.sleep(0.1)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    result = json.loads(output.read_text())["harness"]
    assert result["cluster"]["redirections"]["MOVED"] > 0
    nodes = result["cluster"]["nodes"]
    assert nodes[f"127.0.0.1:{new.port}"]["count"] > 0 and nodes[f"127.0.0.1:{old.port}"]["count"] > 0
    # Reads are not replicated, so every node's GET calls are the harness's own.
    gets = sum(_calls(node)["GET"] - before[node.port]["GET"] for node in masters + replicas)
    assert result["commands"]["GET"]["count"] == gets
    errors = result["totals"]["errors_by_type"]
    assert result["totals"]["errors"] == sum(errors.values())


def test_killed_master_is_survived_once_its_replica_takes_over(cluster_factory, tmp_path):
    masters, replicas = cluster_factory(3, replicas=1)
    old, new = masters[0], replicas[0]
    output = tmp_path / "result.json"
    run = _start_run(masters[1].port, output, "--duration", "14", "--keyspace", "2000", "--rate", "6000")
    time.sleep(4)
    old.process.kill()  # the replica takes over after cluster-node-timeout (2 s) and an election
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    result = json.loads(output.read_text())["harness"]
    assert client_for(new).info("replication")["role"] == "master"
    # Operations in flight to the dead master fail as `connection` errors (there may be
    # none at that instant: connections that cannot reach a master send nothing more);
    # once the other masters mark it failed and until its replica is promoted, they
    # answer CLUSTERDOWN (cluster-require-full-coverage), counted as such.
    # Operations written to it and never answered are indeterminate (it may have run them).
    totals = result["totals"]
    errors = totals["errors_by_type"]
    assert set(errors) <= {"connection", "CLUSTERDOWN"}, errors
    assert set(totals["indeterminate_by_cause"]) <= {"connection"}, totals
    assert len(result["disruptions"]) == 1, result["disruptions"]
    disruption = result["disruptions"][0]
    assert disruption["failed_operations"] == totals["errors"] + totals["indeterminate"], (result["disruptions"], totals)
    assert disruption["recovered_after_s"] is not None and 1.0 < disruption["recovered_after_s"] < 10, disruption
    assert disruption["connections"] == 8
    assert result["cluster"]["nodes"][f"127.0.0.1:{new.port}"]["count"] > 0
    assert "served again after" in stdout


HOUSEKEEPING = {"HELLO", "PING", "INFO", "SCAN", "UNLINK", "CLIENT|SETNAME", "CLIENT|SETINFO", "COMMAND|GETKEYS",
                "SUBSCRIBE", "PSUBSCRIBE", "CLIENT", "COMMAND", "CLUSTER|SLOTS", "CLUSTER|SHARDS", "ASKING",
                # the per-run ACL user on every node (harness.run_user)
                "CLUSTER|NODES", "ACL|WHOAMI", "ACL|GETUSER", "ACL|SETUSER", "ACL|DELUSER", "ACL|USERS",
                "CLIENT|LIST", "COMMAND|INFO"}


def _operations(server) -> dict[str, int]:
    stats = client_for(server).info("commandstats")
    return {name[len("cmdstat_"):].upper(): value["calls"] for name, value in stats.items()
            if name[len("cmdstat_"):].upper() not in HOUSEKEEPING}


CASES = [(w, ()) for w in WORKLOADS] + [("pipeline", ("--transaction", "true"))]


@pytest.mark.parametrize("pipeline", [1, 16])
@pytest.mark.parametrize("workload, extra", CASES, ids=[w + "".join(e[1:]) for w, e in CASES])
def test_every_workload_goes_to_the_right_master(cluster_factory, tmp_path, workload, extra, pipeline):
    """Each command goes to the master of its key's slot the first time: MOVED at most
    0.1% of operations on a stable cluster, uniform keys spread evenly over the
    masters, and the counts equal the masters' commandstats. (Before the batch engine,
    high_throughput's prepared commands were routed by the slot of the whole encoded
    command: about two thirds came back MOVED.)"""
    masters, _ = cluster_factory(3)
    before = [_operations(node) for node in masters]
    output = tmp_path / "result.json"
    done = run_harness("run", "-c", f"config/{workload}.ini", "--port", str(masters[0].port), "--duration", "3",
                       "--output", str(output), "--stats-interval", "1", "--pipeline", str(pipeline),
                       "--key-distribution", "uniform", "--client-instances", "1", *extra)
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    totals = result["totals"]
    assert totals["count"] > 0 and totals["errors"] == 0, totals
    sent: dict[str, int] = {}
    per_master = []
    for b, node in zip(before, masters):
        served = 0
        for name, calls in _operations(node).items():
            if calls - b.get(name, 0):
                sent[name] = sent.get(name, 0) + calls - b.get(name, 0)
                served += calls - b.get(name, 0)
        per_master.append(served)
    expected = {name: block["count"] for name, block in result["commands"].items()}
    for name, count in result.get("preload", {}).items():
        expected[name] = expected.get(name, 0) + count
    assert sent == expected
    cluster = result["cluster"]
    assert cluster["redirections"]["MOVED"] <= 0.001 * totals["count"], cluster["redirections"]
    if workload == "pub_sub":
        assert result["pubsub"]["lost"] == 0
    else:  # uniform keys: each master within +-10% of a third of the operations
        shares = [block["share"] for block in cluster["nodes"].values()]
        assert len(shares) == 3 and all(0.3 <= share <= 0.3667 for share in shares), cluster["nodes"]
    assert all(client_for(node).dbsize() == 0 for node in masters)


def test_cluster_mistakes_get_one_line_errors(cluster_factory, redis_server_factory, tmp_path):
    masters, _ = cluster_factory(3)
    port = str(masters[0].port)
    done = run_harness("run", "--port", port, "--db", "2", "--duration", "1")
    assert done.returncode == 3 and "Redis Cluster node, which has database 0 only: use db = 0" in done.stderr
    assert "after" not in done.stderr.splitlines()[-1]  # not retried: retrying cannot help
    plain = redis_server_factory()
    done = run_harness("run", "--port", str(plain.port), "--duration", "1", "--cluster", "true")
    assert done.returncode == 3 and "is not a cluster node" in done.stderr
    lonely = redis_server_factory("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    done = run_harness("run", "--port", str(lonely.port), "--duration", "1", "--connect-retries", "0")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert "slots" in lines[-1], lines


def test_test_connection_lists_the_masters(cluster_factory):
    masters, _ = cluster_factory(3)
    done = run_harness("test-connection", "--port", str(masters[0].port))
    assert done.returncode == 0, done.stderr
    assert "mode: cluster" in done.stdout
    assert "cluster: 3 masters (" + ", ".join(sorted(f"127.0.0.1:{m.port}" for m in masters)) + ")" in done.stdout


def test_cluster_false_loads_the_one_node_and_counts_moved(cluster_factory, tmp_path):
    masters, _ = cluster_factory(3)
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(masters[0].port), "--cluster", "false", "--workload", "basic_rw",
                       "--requests", "3000", "--duration", "0", "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    moved = result["totals"]["errors_by_type"]["MOVED"]
    assert 0.5 * 3000 < moved < 0.8 * 3000  # two thirds of the slots live elsewhere
