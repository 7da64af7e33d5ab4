"""Unattended runs: thresholds and exit statuses, abort_on_fail, the Pushgateway,
rotated logs, and scripts/soak.sh."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

from harness.embedded import free_port
from tests.conftest import REPO_ROOT, clean_env, run_harness

SOAK = os.path.join(REPO_ROOT, "scripts", "soak.sh")


def test_a_failing_threshold_exits_1_and_names_it(redis_server, tmp_path):
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "2",
                       "--threshold", "p99_ms < 0.0001", "--threshold", "error_rate < 0.01", "--output", str(output))
    assert done.returncode == 1, done.stderr
    assert re.search(r"threshold p99_ms < 0.0001: measured [0-9.]+ FAIL", done.stdout)
    assert "threshold error_rate < 0.01: measured 0 PASS" in done.stdout
    harness = json.loads(output.read_text())["harness"]
    assert harness["exit"]["status"] == 1 and "threshold failed: p99_ms < 0.0001" in harness["exit"]["reason"]
    assert [t["passed"] for t in harness["thresholds"]] == [False, True]


def test_passing_thresholds_from_the_ini_file_exit_0(redis_server, tmp_path):
    config = tmp_path / "checks.ini"
    config.write_text("[run]\nduration = 2\n\n[thresholds]\np99_ms < 10000\nGET.count > 0\nerrors == 0\n"
                      "ops_per_sec > 1\n")
    output = tmp_path / "result.json"
    done = run_harness("run", "-c", str(config), "--port", str(redis_server.port), "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" PASS") == 4
    assert json.loads(output.read_text())["harness"]["exit"]["status"] == 0


def test_exit_statuses(redis_server, tmp_path):
    assert run_harness("run", "--port", str(redis_server.port), "--requests", "100", "--duration", "0").returncode == 0
    assert run_harness("run", "--threshold", "p99 < 1").returncode == 2
    assert run_harness("run", "--port", str(free_port()), "--connect-retries", "0").returncode == 3


def test_abort_on_fail_ends_the_run_early(redis_server_factory, tmp_path):
    server = redis_server_factory("--maxmemory", "1mb", "--maxmemory-policy", "noeviction")
    output = tmp_path / "result.json"
    started = time.monotonic()
    done = run_harness("run", "--port", str(server.port), "--duration", "60", "--value-size", "2000",
                       "--keyspace", "100000", "--stats-interval", "0.5", "--threshold", "errors < 10",
                       "--abort-on-fail", "true", "--output", str(output))
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 30
    assert "threshold 'errors < 10' can no longer pass" in done.stderr
    harness = json.loads(output.read_text())["harness"]
    assert "stopped early by abort_on_fail" in harness["exit"]["reason"]
    assert harness["totals"]["seconds"] < 30


def test_pushgateway_round_trip(redis_server, tmp_path):
    port = free_port()
    gateway = subprocess.Popen(
        [shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway",
         f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'push.db'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        output = tmp_path / "result.json"
        done = run_harness("run", "--port", str(redis_server.port), "--requests", "5000", "--duration", "0",
                           "--client-instances", "2", "--pushgateway", f"http://127.0.0.1:{port}",
                           "--output", str(output))
        assert done.returncode == 0, done.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/metrics", timeout=5) as response:
            groups = json.load(response)["data"]
        result = json.loads(output.read_text())["harness"]
        group = next(g for g in groups if g["labels"].get("run_id") == result["run"]["run_id"])
        assert group["labels"]["job"] == "redis-harness" and group["labels"]["instance"]
        pushed = {m["labels"]["command"]: float(m["value"])
                  for m in group["harness_operations_total"]["metrics"] if m["labels"]["status"] == "ok"}
        assert pushed == {name: block["count"] for name, block in result["commands"].items()}
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)


def test_pushgateway_push_also_after_a_failure(redis_server, tmp_path):
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "1",
                       "--threshold", "p99_ms < 0.0001", "--pushgateway", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "push to the Pushgateway at" in done.stderr and "failed" in done.stderr


def test_log_file_rotates_and_keeps_whole_lines(redis_server, tmp_path):
    log = tmp_path / "harness.log"
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "3", "--stats-interval", "0.2",
                       "--client-instances", "2", "--log-file", str(log), "--log-max-bytes", "1024",
                       "--log-backups", "3")
    assert done.returncode == 0, done.stderr
    files = sorted(tmp_path.glob("harness.log*"))
    assert {f.name for f in files} == {"harness.log", "harness.log.1", "harness.log.2", "harness.log.3",
                                       "harness.log.lock"}
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} harness (INFO|WARNING|ERROR) ")
    for path in files:
        if path.name.endswith(".lock"):
            continue
        text = path.read_text()
        assert text.endswith("\n") and (os.path.getsize(path) <= 1024 or text.count("\n") == 1)
        for line in text.splitlines():
            assert iso.match(line), line
    interval_lines = [line for f in files if not f.name.endswith(".lock")
                      for line in f.read_text().splitlines() if "] " in line and "ops/s" in line]
    assert interval_lines  # one line per interval goes to the log


def soak(config, results, env_extra=None, background=False):
    env = clean_env(HARNESS=f"{sys.executable} -m harness", **(env_extra or {}))
    command = ["bash", SOAK, str(config), str(results)]
    if background:
        return subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_soak_script_locks_keeps_results_and_passes_the_status(redis_server, tmp_path):
    config = tmp_path / "soak.ini"
    config.write_text(f"[target]\nport = {redis_server.port}\n[run]\nduration = 4\nrate = 500\n"
                      "[metrics]\nstats_interval = 1\n")
    results = tmp_path / "results"
    first = soak(config, results, background=True)
    deadline = time.monotonic() + 10
    while not (results / ".soak.lock").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    second = soak(config, results)
    assert second.returncode == 75
    assert second.stderr.strip() == f"soak.sh: another soak run holds {results}/.soak.lock; not starting this one"
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert len(list(results.glob("soak-*.json"))) == 1 and (results / "soak.log").exists()
    # the harness's own status comes through: a failing threshold is 1
    failing = tmp_path / "failing.ini"
    failing.write_text(config.read_text().replace("duration = 4", "duration = 1") + "[thresholds]\np99_ms < 0.0001\n")
    time.sleep(1.1)  # a new timestamp
    assert soak(failing, results).returncode == 1
    for _ in range(2):
        time.sleep(1.1)
        soak(config.with_name("soak.ini"), results, {"SOAK_KEEP": "2"})
    assert len(list(results.glob("soak-*.json"))) == 2


def _soak_copy(tmp_path):
    """soak.sh copied to tmp_path/scripts, where no .venv is beside it."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    copy = scripts / "soak.sh"
    shutil.copy(SOAK, copy)
    return copy


def _soak_without_harness_variable(script, config, results, path):
    env = {k: v for k, v in clean_env(PATH=path).items() if k != "HARNESS"}
    return subprocess.run(["bash", str(script), str(config), str(results)], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_soak_finds_the_harness_beside_it_or_on_path_and_says_when_neither(redis_server, tmp_path):
    config = tmp_path / "soak.ini"
    config.write_text(f"[target]\nport = {redis_server.port}\n[run]\nduration = 1\nrate = 500\n")
    script = _soak_copy(tmp_path)
    system_path = "/usr/bin:/bin"
    assert shutil.which("harness", path=system_path) is None
    done = _soak_without_harness_variable(script, config, tmp_path / "none", system_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"soak.sh: harness not found: not at {script.parent}/../.venv/bin/harness or {script.parent}/harness, "
        "nor on PATH; install it (python3 -m venv .venv && .venv/bin/pip install .) or set HARNESS=/path/to/harness")
    assert not (tmp_path / "none").exists()  # it stopped before making the results directory
    # On PATH: the harness console script of the Python running these tests.
    on_path = f"{os.path.dirname(sys.executable)}:{system_path}"
    done = _soak_without_harness_variable(script, config, tmp_path / "path", on_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "path").glob("soak-*.json"))) == 1
    # Beside it: a virtual environment at scripts/../.venv, as the README's install makes.
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    os.symlink(os.path.join(os.path.dirname(sys.executable), "harness"), venv_bin / "harness")
    done = _soak_without_harness_variable(script, config, tmp_path / "beside", system_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "beside").glob("soak-*.json"))) == 1


def test_soak_baseline_compare_passes_its_bound_and_status_through(redis_server, tmp_path):
    # soak.sh's part is the wiring: a run that passed is compared with SOAK_BASELINE under
    # SOAK_MAX_REGRESSION and compare's status becomes the script's. Paced ops/s is the
    # figure that is the same on a busy machine, so the verdicts hang on it; whether two
    # runs' latencies differ beyond their spread is compare's own unit tests' business
    # (a latency judged between two runs on a shared CI machine is a coin toss).
    def config(rate):
        path = tmp_path / f"soak-{rate}.ini"
        path.write_text(f"[target]\nport = {redis_server.port}\n[run]\nduration = 7\nrate = {rate}\n"
                        "client_instances = 1\n[metrics]\nstats_interval = 5\n")
        return path

    first = soak(config(1000), tmp_path / "first")
    assert first.returncode == 0, first.stderr
    (baseline,) = (tmp_path / "first").glob("soak-*.json")

    # The same paced load under a bound no latency noise reaches: it passes, and the bound
    # printed is the one given.
    like = soak(config(1000), tmp_path / "like", {"SOAK_BASELINE": str(baseline), "SOAK_MAX_REGRESSION": "400"})
    assert like.returncode == 0, like.stdout + like.stderr
    lines = like.stdout.splitlines()
    assert lines[-1].startswith("no regression beyond 400%"), like.stdout
    ops = [line.split() for line in lines if line.split()[1:2] == ["ops/s"]]
    assert len(ops) == 3 and all(row[-1] == "ok" for row in ops), like.stdout

    # Half the rate against the same baseline, default bound: ops/s fell by half, beyond
    # the bound and outside both runs' spread, so the script exits 1 naming it.
    slower = soak(config(500), tmp_path / "slower", {"SOAK_BASELINE": str(baseline)})
    assert slower.returncode == 1, slower.stdout + slower.stderr
    last = slower.stdout.splitlines()[-1]
    assert last.startswith("regression beyond 10%: ") and "ops/s -50" in last, slower.stdout
