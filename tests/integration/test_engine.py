"""The engine against real redis-server processes: shape, exact counts, pacing, failures."""

import json
import os
import re
import signal
import subprocess
import time

import psutil
import pytest

from tests.conftest import commandstats, REPO_ROOT, client_for, clean_env, harness_command, run_harness

CONNECTION_NAME = re.compile(r"^harness-[0-9a-f]{8}-(\d+)-(\d+)$")



def delta(before, after, command):
    return after.get(command, 0) - before.get(command, 0)


class Running:
    """A `harness run` in the background, started and waited on as a user would."""

    def __init__(self, server, tmp_path, *args):
        self.output = tmp_path / "result.json"
        self.process = subprocess.Popen(
            harness_command("run", "--port", str(server.port), "--stats-interval", "0.5",
                            "--output", str(self.output), *args),
            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        )
        first = self.process.stdout.readline()
        assert first.startswith("[ "), first + self.process.stderr.read()
        self.children = psutil.Process(self.process.pid).children(recursive=True)

    def finish(self, timeout=30):
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def result(self):
        return json.loads(self.output.read_text())["harness"]

    def assert_nothing_left(self):
        survivors = [child for child in self.children if child.is_running() and child.status() != "zombie"]
        assert not survivors, survivors


def test_process_tree_and_named_connections(redis_server, tmp_path):
    client = client_for(redis_server)
    before = commandstats(client)
    run = Running(redis_server, tmp_path, "--client-instances", "3", "--connections-per-client", "4",
                  "--threads-per-client", "2", "--duration", "60")
    # harness:acl keeps the per-run ACL user on a server that restarts (harness.run_user).
    # It is a fresh interpreter that names itself once its imports are done, which on a
    # busy machine can be after the first live line: wait for that, not for a time.
    deadline = time.monotonic() + 30
    while "python" in [child.name() for child in run.children] and time.monotonic() < deadline:
        time.sleep(0.05)
    names = sorted(child.name() for child in run.children)
    assert names == ["harness:acl", "harness:client0", "harness:client1", "harness:client2", "harness:report"]
    names = [entry["name"] for entry in client.client_list() if entry["name"].startswith("harness-")]
    connections = [name for name in names if CONNECTION_NAME.match(name)]
    assert len(connections) == 12
    # ...plus the reporter's one connection for sampling INFO, named apart
    assert [name for name in names if not CONNECTION_NAME.match(name)] == [connections[0][:17] + "reporter"]
    per_process = sorted(CONNECTION_NAME.match(name).group(1) for name in connections)
    assert per_process == ["0"] * 4 + ["1"] * 4 + ["2"] * 4
    # SIGTERM: final results within 5 s, every operation accounted for.
    signalled = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    status, out, err = run.finish()
    assert time.monotonic() - signalled < 5
    assert status == 143, err
    assert "[total" in out
    result = run.result()
    assert result["exit"] == {"status": 143, "reason": "stopped by SIGTERM"}
    after = commandstats(client)
    for command in ("SET", "GET"):
        assert result["commands"][command]["count"] == delta(before, after, command) > 0
    run.assert_nothing_left()


@pytest.mark.parametrize("workload, commands, pipeline", [
    ("high_throughput", ("SET", "GET"), "1"),
    ("high_throughput", ("SET", "GET"), "16"),  # prepared batches, and a shorter last batch per thread
    ("basic_rw", ("SET", "GET", "INCR", "DEL"), "1"),
])
def test_requests_are_exact_and_match_commandstats(redis_server, tmp_path, workload, commands, pipeline):
    client = client_for(redis_server)
    before = commandstats(client)
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--requests", "100000", "--workload", workload,
                       "--client-instances", "3", "--threads-per-client", "2", "--connections-per-client", "3",
                       "--duration", "0", "--output", str(output), "--pipeline", pipeline)
    assert done.returncode == 0, done.stderr
    after = commandstats(client)
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["count"] == 100000 and result["totals"]["errors"] == 0
    assert set(result["commands"]) == set(commands)
    for command in commands:
        assert result["commands"][command]["count"] == delta(before, after, command), command
    assert sum(delta(before, after, command) for command in commands) == 100000


def test_rate_is_held_within_two_percent(redis_server, tmp_path):
    client = client_for(redis_server)
    before = commandstats(client)
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--rate", "5000", "--duration", "10",
                       "--client-instances", "2", "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    achieved = result["totals"]["ops_per_sec"]
    assert 4900 <= achieved <= 5100, result["totals"]
    assert 49000 <= result["totals"]["count"] <= 51000
    after = commandstats(client)
    assert delta(before, after, "SET") + delta(before, after, "GET") == result["totals"]["count"]
    assert "max_schedule_lag_seconds" in result["run"]


def test_stages_hold_each_stage_and_ramp_within_two_percent(redis_server, tmp_path):
    """rate 1000, then up to 3000 over 2 s, then 3000: each second's operations (the
    result file's per-second series) within 2% of the rate's integral over it."""
    client = client_for(redis_server)
    before = commandstats(client)
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--rate", "1000", "--stages", "2s:1000,2s:3000,2s:3000",
                       "--client-instances", "2", "--output", str(output))
    assert done.returncode == 0, done.stderr
    document = json.loads(output.read_text())
    series = document["ALL STATS"]["Totals"]["Time-Serie"]
    per_second = [series[str(second)]["Count"] for second in range(1, 7)]
    targets = [series[str(second)]["Target Count"] for second in range(1, 7)]
    assert targets == [1000, 1000, 1500, 2500, 3000, 3000]
    for got, want in zip(per_second, targets):
        assert abs(got - want) <= 0.02 * want, per_second
    result = document["harness"]
    assert result["run"]["target_rate"] == {"rate": 1000, "stages": [[2, 1000], [2, 3000], [2, 3000]]}
    # the live lines (not a terminal here: one line a second) show the target beside the rate
    assert re.search(r"ops/s \(target 3,000\)", done.stdout), done.stdout
    assert result["totals"]["count"] == delta(before, commandstats(client), "SET") + delta(
        before, commandstats(client), "GET") == sum(series[key]["Count"] for key in series)


def test_warmup_operations_are_left_out(redis_server, tmp_path):
    client = client_for(redis_server)
    before = commandstats(client)
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--rate", "2000", "--duration", "3",
                       "--warmup", "1", "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    sent = delta(before, commandstats(client), "SET") + delta(before, commandstats(client), "GET")
    assert result["totals"]["count"] + result["run"]["warmup_ops"] == sent
    assert 1800 <= result["run"]["warmup_ops"] <= 2200
    assert 1900 <= result["totals"]["ops_per_sec"] <= 2100


def test_a_killed_client_stops_the_run(redis_server, tmp_path):
    run = Running(redis_server, tmp_path, "--client-instances", "2", "--duration", "60")
    victim = next(child for child in run.children if child.name() == "harness:client1")
    victim.kill()
    killed = time.monotonic()
    status, out, err = run.finish()
    assert status == 3, err
    assert f"client process 1 (pid {victim.pid}) killed by SIGKILL; stopping the run" in err
    assert time.monotonic() - killed < 10
    result = run.result()
    assert result["exit"]["status"] == 3 and "killed by SIGKILL" in result["exit"]["reason"]
    assert result["totals"]["count"] > 0  # what the surviving client measured is kept
    run.assert_nothing_left()


def test_a_restarted_server_is_reconnected(redis_server_factory, tmp_path):
    server = redis_server_factory()
    port = server.port
    run = Running(server, tmp_path, "--client-instances", "2", "--duration", "8")
    server.stop()
    time.sleep(1.0)
    returned = redis_server_factory(port=port)
    back_at = time.monotonic()
    client = client_for(returned)
    while commandstats(client).get("SET", 0) == 0:
        assert time.monotonic() - back_at < 2.0, "no load within 2 s of the server's return"
        time.sleep(0.05)
    status, out, err = run.finish()
    assert status == 0, err
    result = run.result()
    # Batches in flight when the server went away were written and never answered:
    # indeterminate. Operations that could not be written fail as connection errors.
    totals = result["totals"]
    assert totals["indeterminate"] > 0
    assert set(totals["indeterminate_by_cause"]) == {"connection"}
    assert set(totals["errors_by_type"]) <= {"connection"}
    run.assert_nothing_left()


def test_a_target_that_stays_down_fails_the_run(redis_server_factory, tmp_path):
    server = redis_server_factory()
    run = Running(server, tmp_path, "--duration", "60", "--connect-timeout", "0.5", "--connect-retries", "1")
    server.stop()
    status, out, err = run.finish()
    assert status == 3, err
    assert "no connection could be re-established for 1 s" in err
    result = run.result()
    assert result["exit"]["status"] == 3 and result["totals"]["count"] > 0
    run.assert_nothing_left()


def test_embedded_server_is_not_a_client_process(tmp_path):
    done = run_harness("run", "--url", "embedded", "--client-instances", "2", "--requests", "2000",
                       "--duration", "0", "--output", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["harness"]["totals"]["count"] == 2000


def test_cpu_affinity_auto_pins_clients_to_distinct_cores(redis_server, tmp_path):
    run = Running(redis_server, tmp_path, "--client-instances", "2", "--cpu-affinity", "auto", "--duration", "60")
    clients = sorted((c for c in run.children if c.name().startswith("harness:client")), key=lambda c: c.name())
    affinities = [tuple(c.cpu_affinity()) for c in clients]
    assert all(len(a) == 1 for a in affinities)
    if psutil.cpu_count() >= 2:
        assert affinities[0] != affinities[1]
    run.process.send_signal(signal.SIGINT)
    status, _, err = run.finish()
    assert status == 130, err
    run.assert_nothing_left()




def test_server_errors_are_counted_by_prefix_and_the_run_goes_on(redis_server_factory, tmp_path):
    server = redis_server_factory("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(server.port), "--requests", "20000", "--duration", "0",
                       "--value-size", "1000", "--keyspace", "100000", "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["count"] == 20000
    assert set(result["totals"]["errors_by_type"]) == {"OOM"}
    assert result["commands"]["SET"]["errors"] == result["totals"]["errors"] > 0
    assert result["commands"]["GET"]["errors"] == 0


def test_ramp_adds_connections_over_time(redis_server, tmp_path):
    client = client_for(redis_server)
    run = Running(redis_server, tmp_path, "--connections-per-client", "4", "--threads-per-client", "1",
                  "--ramp", "30", "--duration", "60")
    time.sleep(2.5)
    idle = {CONNECTION_NAME.match(entry["name"]).group(2): int(entry["idle"])
            for entry in client.client_list() if CONNECTION_NAME.match(entry["name"])}
    # Connection 0 works from the start; 1 to 3 join at 10, 20 and 30 s: still untouched.
    assert idle["0"] == 0 and all(idle[name] >= 2 for name in ("1", "2", "3")), idle
    run.process.send_signal(signal.SIGTERM)
    assert run.finish()[0] == 143
    run.assert_nothing_left()


def test_a_second_sigint_exits_at_once(redis_server, tmp_path):
    run = Running(redis_server, tmp_path, "--client-instances", "2", "--duration", "60")
    run.process.send_signal(signal.SIGINT)
    run.process.send_signal(signal.SIGINT)
    status, _, err = run.finish(timeout=10)
    assert status == 130, err
    run.assert_nothing_left()


def test_nothing_outlives_a_killed_coordinator(tmp_path):
    process = subprocess.Popen(
        harness_command("run", "--url", "embedded", "--client-instances", "2", "--duration", "60",
                        "--stats-interval", "0.5"),
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    assert process.stdout.readline().startswith("[ ")
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) == 5  # reporter, 2 clients, the embedded redis-server, the ACL user's keeper
    process.kill()
    process.wait()
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, alive


def test_sigterm_to_the_whole_process_group_still_stops_in_order(redis_server, tmp_path):
    output = tmp_path / "result.json"
    process = subprocess.Popen(
        harness_command("run", "--port", str(redis_server.port), "--client-instances", "2", "--duration", "60",
                        "--stats-interval", "0.5", "--output", str(output)),
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        start_new_session=True,
    )
    assert process.stdout.readline().startswith("[ ")
    os.killpg(process.pid, signal.SIGTERM)  # as systemd or docker stop would
    out, err = process.communicate(timeout=20)
    assert process.returncode == 143, err
    assert "[total" in out
    assert json.loads(output.read_text())["harness"]["exit"]["status"] == 143


def test_a_hung_server_gives_timeouts_after_socket_timeout(redis_server_factory, tmp_path):
    server = redis_server_factory("--enable-debug-command", "yes")
    run = Running(server, tmp_path, "--workload", "basic_rw", "--rate", "2000", "--duration", "8",
                  "--socket-timeout", "1", "--connections-per-client", "4")
    time.sleep(2)
    client_for(server).execute_command("DEBUG", "SLEEP", "3")  # the server answers nobody for 3 s
    status, out, err = run.finish()
    assert status == 0, err
    result = run.result()
    # Unanswered batches were written: their outcome is unknown (the server ran them
    # once it woke up), so they are indeterminate, not failed.
    assert result["totals"]["errors_by_type"] == {}
    unknown = result["totals"]["indeterminate_by_cause"]
    assert set(unknown) == {"timeout"} and unknown["timeout"] >= 4, unknown  # at least each connection's batch
    disruption = result["disruptions"][0]
    assert disruption["failed_operations"] == unknown["timeout"]
    assert disruption["recovered_after_s"] is not None and 1.0 < disruption["recovered_after_s"] < 4.5
    run.assert_nothing_left()
