"""Sentinel: a master, a replica and three Sentinels started by the test; the run
follows a failover to the new master and reports how long recovery took.

The tests wait on states (the load reached the master, every load connection is on
the new one and served), never on guessed times, and then stop the run with SIGINT:
a run that ends by its duration could end before a slow failover finished.
"""

import json
import re
import signal
import time

from tests.conftest import client_for, run_harness, start_harness

CONNECTIONS = 8  # 2 client processes x 4


def _harness_against(sentinels, output, *extra):
    addresses = ",".join(f"{s.host}:{s.port}" for s in sentinels)
    return start_harness("run", "--sentinels", addresses, "--service-name", "mymaster", "--workload", "basic_rw",
                         "--client-instances", "2", "--connections-per-client", "4", "--rate", "3000",
                         "--output", str(output), "--stats-interval", "1", "--duration", "120", *extra)


def _wait_until(condition, what: str, timeout: float = 60) -> None:
    """Poll until condition() holds; the timeout only bounds a broken run's wait."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.05)


def _load_connections(server) -> int:
    """The run's load connections on `server`, by their names harness-<run>-<process>-<n>."""
    client = client_for(server)
    try:
        return sum(1 for entry in client.client_list()
                   if entry.get("name", "").startswith("harness-") and re.search(r"-\d+-\d+$", entry["name"]))
    finally:
        client.close()


def _served_by(server, run) -> None:
    """Until every load connection is on `server` and it has answered 3,000 more GETs
    (about 2 s of reads at this rate, so each connection has been served again)."""
    _wait_until(lambda: _load_connections(server) == CONNECTIONS, "every load connection on the new master")
    assert run.poll() is None, "the run ended early"
    start = _gets(server)
    _wait_until(lambda: _gets(server) - start > 3000, "reads on the new master")


def _stop(run):
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    return stdout, stderr


def _master_port(sentinel) -> int:
    client = client_for(sentinel)
    try:
        return int(client.sentinel_get_master_addr_by_name("mymaster")[1])
    finally:
        client.close()


def _gets(server) -> int:
    return client_for(server).info("commandstats").get("cmdstat_get", {}).get("calls", 0)


def test_sentinel_failover_mid_run_moves_the_load_to_the_new_master(sentinel_group, tmp_path):
    master, replica, sentinels = sentinel_group
    output = tmp_path / "result.json"
    run = _harness_against(sentinels, output)
    _wait_until(lambda: _gets(master) > 0, "the run's reads on the master")
    assert _gets(replica) == 0  # reads go to the master only
    client_for(sentinels[0]).execute_command("SENTINEL", "FAILOVER", "mymaster")
    _wait_until(lambda: _master_port(sentinels[0]) == replica.port, "the Sentinels to fail over")
    _wait_until(lambda: _load_connections(master) == 0, "the load connections to leave the old master")
    reads_on_old = _gets(master)
    _served_by(replica, run)
    stdout, stderr = _stop(run)
    # The load followed: the new master served reads after the switch, the old one stopped.
    assert _gets(master) == reads_on_old
    assert "moved from" in stderr and "to 127.0.0.1:%d" % replica.port in stderr
    result = json.loads(output.read_text())["harness"]
    disruptions = result["disruptions"]
    assert len(disruptions) == 1, disruptions
    assert disruptions[0]["recovered_after_s"] is not None
    assert disruptions[0]["connections"] == CONNECTIONS
    assert 0 < disruptions[0]["at_s"] < result["totals"]["seconds"]
    assert "disruption at" in stdout and "served again after" in stdout
    assert result["run"]["target"] == "sentinel://" + ",".join(f"{s.host}:{s.port}" for s in sentinels) + "/mymaster"
    assert result["exit"]["status"] == 130


def test_killed_master_errors_are_counted_and_recovery_reported(sentinel_group, tmp_path):
    master, replica, sentinels = sentinel_group
    output = tmp_path / "result.json"
    run = _harness_against(sentinels, output)
    _wait_until(lambda: _gets(master) > 0, "the run's reads on the master")
    master.process.kill()  # no goodbye: the Sentinels must notice (1 s) and elect
    _wait_until(lambda: _master_port(sentinels[0]) == replica.port, "the Sentinels to elect the replica")
    _served_by(replica, run)
    stdout, stderr = _stop(run)
    result = json.loads(output.read_text())["harness"]
    disruption = result["disruptions"][0]
    # Batches in flight at the kill were written and never answered: indeterminate; the
    # master may also die between batches, so there may be none. Nothing else fails:
    # a connection that cannot reach a master sends nothing.
    totals = result["totals"]
    assert set(totals["errors_by_type"]) <= {"connection"} and set(totals["indeterminate_by_cause"]) <= {"connection"}
    assert disruption["failed_operations"] == totals["errors"] + totals["indeterminate"]
    assert disruption["connections"] == CONNECTIONS
    # Not before the Sentinels' down-after-milliseconds (1 s) let them elect a new master.
    assert disruption["recovered_after_s"] is not None and disruption["recovered_after_s"] > 1.0
    assert "served again after" in stdout


def test_test_connection_names_the_master_and_a_wrong_service_fails_in_one_line(sentinel_group):
    master, _, sentinels = sentinel_group
    addresses = ",".join(f"{s.host}:{s.port}" for s in sentinels)
    done = run_harness("test-connection", "--sentinels", addresses)
    assert done.returncode == 0, done.stderr
    assert f"master (named by the Sentinels): 127.0.0.1:{master.port}" in done.stdout
    assert "role: master" in done.stdout
    done = run_harness("test-connection", "--sentinels", addresses, "--service-name", "nosuch",
                       "--connect-retries", "0")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert "no Sentinel named a master" in lines[0] and "nosuch" in lines[0]
