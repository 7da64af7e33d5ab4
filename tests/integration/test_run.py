"""`harness run` end to end against real redis-server processes."""

import json
import os
import re
import shlex
import signal
import subprocess
import time

from harness.embedded import free_port
from tests.conftest import commandstats, REPO_ROOT, client_for, clean_env, harness_command, run_harness

EMBEDDED_LINE = re.compile(r"started a private redis-server \((?P<binary>[^,]+), pid (?P<pid>\d+)\) "
                           r"on 127\.0\.0\.1:(?P<port>\d+) in (?P<dir>\S+);")



def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes; check its state.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_exact_requests_match_the_servers_commandstats(redis_server, tmp_path):
    client = client_for(redis_server)
    client.mset({f"user:{i}": f"value-{i}" for i in range(100)})
    before = commandstats(client)
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--requests", "1000",
                       "--output", str(output))
    assert done.returncode == 0, done.stderr
    after = commandstats(client)
    result = json.loads(output.read_text())["harness"]
    for command in ("SET", "GET"):
        delta = after.get(command, 0) - before.get(command, 0)
        assert delta == result["commands"][command]["count"] > 0
    assert result["totals"]["count"] == 1000 and result["totals"]["errors"] == 0
    assert result["exit"] == {"status": 0, "reason": "completed"}
    assert "[total" in done.stdout and "1,000 ops" in done.stdout
    # cleanup removed the run's keys and nothing else
    assert client.dbsize() == 100
    assert all(client.get(f"user:{i}") == f"value-{i}".encode() for i in range(100))


def test_duration_ends_the_run_and_prints_totals(redis_server):
    started = time.monotonic()
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "2",
                       "--stats-interval", "0.5", "--workload", "basic_rw")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("[ ")]
    assert len(progress) >= 2, done.stdout
    lines = done.stdout.splitlines()
    assert any(line.startswith("[total") for line in lines)
    assert any(line.startswith("TOTAL") for line in lines)
    assert elapsed < 15


def embedded_details(stderr):
    match = EMBEDDED_LINE.search(stderr)
    assert match, stderr
    return int(match["pid"]), match["dir"]


def test_embedded_server_is_started_and_removed(tmp_path):
    done = run_harness("run", "--url", "embedded", "--duration", "1", "--output", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    pid, directory = embedded_details(done.stderr)
    assert "results measure this machine alone" in done.stderr
    assert not alive(pid) and not os.path.exists(directory)
    assert json.loads((tmp_path / "r.json").read_text())["harness"]["totals"]["count"] > 0


def start_long_run(tmp_path, *extra):
    process = subprocess.Popen(
        harness_command("run", "--url", "embedded", "--duration", "60", "--stats-interval", "0.2",
                        "--output", str(tmp_path / "r.json"), *extra),
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    # Wait until load is running (the first progress line).
    first = process.stdout.readline()
    assert first.startswith("[ "), first + process.stderr.read()
    return process


def test_sigint_stops_cleanly_and_removes_the_embedded_server(tmp_path):
    process = start_long_run(tmp_path)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    pid, directory = embedded_details(err)
    assert not alive(pid) and not os.path.exists(directory)
    assert "[total" in out
    result = json.loads((tmp_path / "r.json").read_text())["harness"]
    assert result["exit"] == {"status": 130, "reason": "stopped by SIGINT"}
    assert result["totals"]["count"] > 0


def test_sigterm_gives_143_and_results(tmp_path):
    process = start_long_run(tmp_path)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 143, err
    pid, directory = embedded_details(err)
    assert not alive(pid) and not os.path.exists(directory)
    assert json.loads((tmp_path / "r.json").read_text())["harness"]["exit"]["status"] == 143


def test_unreachable_target_fails_with_one_line_and_writes_results(tmp_path):
    port = free_port()
    done = run_harness("run", "--port", str(port), "--connect-retries", "1",
                       "--output", str(tmp_path / "r.json"))
    assert done.returncode == 3
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert errors == [f"harness: error: cannot connect to redis://localhost:{port} after 2 attempts: "
                      "connection refused (nothing listening?)"], done.stderr
    result = json.loads((tmp_path / "r.json").read_text())["harness"]
    assert result["exit"]["status"] == 3 and "connection refused" in result["exit"]["reason"]


def test_readme_main_job_with_nothing_on_6379(tmp_path):
    """The README's first command, in a network namespace where 6379 is free.

    unshare -rn gives this process tree its own loopback: the machine's Redis on 6379
    cannot be seen or touched, as on a fresh machine.
    """
    output = tmp_path / "result.json"
    script = "ip link set lo up && exec " + shlex.join(
        harness_command("run", "-c", "config/high_throughput.ini", "--duration", "5", "--output", str(output))
    )
    done = subprocess.run(["unshare", "-rn", "sh", "-c", script], capture_output=True, text=True,
                          timeout=120, env=clean_env(), cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert "no target configured and none on localhost:6379: started a private redis-server" in done.stderr
    lines = done.stdout.strip().splitlines()
    totals = next(line for line in lines if line.startswith("[total"))
    assert "GET" in totals and "SET" in totals and any(line.startswith("TOTAL") for line in lines)
    pid, directory = embedded_details(done.stderr)
    assert not os.path.exists(directory)
    assert json.loads(output.read_text())["harness"]["exit"]["status"] == 0
