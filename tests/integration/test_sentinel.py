"""Sentinel: a master, a replica and three Sentinels started by the test; the run
follows a failover to the new master and reports how long recovery took."""

import json
import time

from tests.conftest import client_for, run_harness, start_harness


def _harness_against(sentinels, output, *extra):
    addresses = ",".join(f"{s.host}:{s.port}" for s in sentinels)
    return start_harness("run", "--sentinels", addresses, "--service-name", "mymaster", "--workload", "basic_rw",
                         "--client-instances", "2", "--connections-per-client", "4", "--rate", "3000",
                         "--output", str(output), "--stats-interval", "1", *extra)


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
    run = _harness_against(sentinels, output, "--duration", "14")
    time.sleep(6)  # the run is under way (start-up takes about a second)
    assert _gets(master) > 0 and _gets(replica) == 0  # reads go to the master only
    client_for(sentinels[0]).execute_command("SENTINEL", "FAILOVER", "mymaster")
    deadline = time.monotonic() + 10
    while _master_port(sentinels[0]) != replica.port and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _master_port(sentinels[0]) == replica.port, "the Sentinels did not fail over"
    time.sleep(2)
    reads_on_old = _gets(master)
    reads_on_new = _gets(replica)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    # The load followed: the new master served reads after the switch, the old one stopped.
    assert _gets(replica) - reads_on_new > 3000 * 0.3 * 2
    assert _gets(master) == reads_on_old
    assert "moved from" in stderr and "to 127.0.0.1:%d" % replica.port in stderr
    result = json.loads(output.read_text())["harness"]
    disruptions = result["disruptions"]
    assert len(disruptions) == 1, disruptions
    assert disruptions[0]["recovered_after_s"] is not None and disruptions[0]["recovered_after_s"] < 5
    assert disruptions[0]["connections"] == 8
    assert 5 < disruptions[0]["at_s"] < 12
    assert "disruption at" in stdout and "served again after" in stdout
    assert result["run"]["target"] == "sentinel://" + ",".join(f"{s.host}:{s.port}" for s in sentinels) + "/mymaster"
    assert result["exit"]["status"] == 0


def test_killed_master_errors_are_counted_and_recovery_reported(sentinel_group, tmp_path):
    master, replica, sentinels = sentinel_group
    output = tmp_path / "result.json"
    run = _harness_against(sentinels, output, "--duration", "16")
    time.sleep(5)
    master.process.kill()  # no goodbye: the Sentinels must notice (1 s) and elect
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert _master_port(sentinels[0]) == replica.port
    result = json.loads(output.read_text())["harness"]
    disruption = result["disruptions"][0]
    # Batches in flight at the kill were written and never answered: indeterminate; the
    # master may also die between batches, so there may be none. Nothing else fails:
    # a connection that cannot reach a master sends nothing.
    totals = result["totals"]
    assert set(totals["errors_by_type"]) <= {"connection"} and set(totals["indeterminate_by_cause"]) <= {"connection"}
    assert disruption["failed_operations"] == totals["errors"] + totals["indeterminate"]
    assert disruption["connections"] == 8
    assert disruption["recovered_after_s"] is not None and 1.0 < disruption["recovered_after_s"] < 15
    assert _gets(replica) > 0
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
