"""Faults and hostile input (issue 13, findings 3, 4, 5, 6, 8, 10): nothing hangs, what can
be refused is refused before the load, telemetry failures never cost the result, and no
credential leaks. Real redis-server, Prometheus pushgateway and OTLP receiver; no mocks.

Filesystems that are full or read-only are private tmpfs mounts in a mount namespace
of the harness's own (unshare), so the machine's mounts are never touched.
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
import urllib.parse
import urllib.request

import psutil
import pytest

from harness.embedded import free_port
from tests.conftest import (REPO_ROOT, clean_env, client_for, commandstats, harness_command, run_harness,
                            start_harness)
from tests.integration.test_metrics import OtlpReceiver, scrape

# A password with every character that breaks naive URL handling.
PASSWORD = "s3/cr@t:pa%ss"
QUOTED = urllib.parse.quote(PASSWORD, safe="")


def load_total(server) -> tuple[int, int]:
    """(connections the server accepted before this call's own, workload commands it
    ran): both stay put when a refusal comes before the load."""
    client = client_for(server)
    stats = commandstats(client)
    accepted = client.info("stats")["total_connections_received"] - 1
    client.close()
    return accepted, stats.get("GET", 0) + stats.get("SET", 0)


def wait_for_live_line(process) -> None:
    """Until the first live-view line: every client process is connected and sending."""
    line = process.stdout.readline()
    assert line.startswith("[ "), line + process.stderr.read()


def child_named(process, name: str) -> psutil.Process:
    return next(child for child in psutil.Process(process.pid).children() if child.name() == name)


def wait_exit(process, limit: float) -> tuple[float, str, str]:
    started = time.monotonic()
    out, err = process.communicate(timeout=60)
    return time.monotonic() - started, out, err


# --- nothing hangs -------------------------------------------------------------------


def test_reporter_killed_ends_the_run_with_a_result_file(redis_server, tmp_path):
    output = tmp_path / "result.json"
    client = client_for(redis_server)
    before = commandstats(client)
    process = start_harness("run", "--port", str(redis_server.port), "--duration", "60", "--client-instances", "2",
                            "--stats-interval", "0.5", "--output", str(output))
    wait_for_live_line(process)
    reporter = child_named(process, "harness:report")
    reporter.kill()
    took, out, err = wait_exit(process, 10)
    assert took < 10, took
    assert process.returncode == 3, err
    assert f"reporter process (pid {reporter.pid}) killed by SIGKILL" in err
    result = json.loads(output.read_text())["harness"]
    assert result["exit"]["status"] == 3 and "reporter process" in result["exit"]["reason"]
    assert "partial" in result
    after = commandstats(client)
    sent = sum(after.get(name, 0) - before.get(name, 0) for name in ("GET", "SET"))
    assert result["totals"]["count"] == sent > 0  # the coordinator's copy holds every operation
    assert "TOTAL" in out
    print(f"reporter SIGKILL: the run ended {took:.2f} s later")


def test_a_stopped_client_is_named_and_killed(redis_server, tmp_path):
    output = tmp_path / "result.json"
    process = start_harness("run", "--port", str(redis_server.port), "--duration", "60", "--client-instances", "2",
                            "--stats-interval", "0.5", "--heartbeat-timeout", "3", "--output", str(output))
    wait_for_live_line(process)
    victim = child_named(process, "harness:client1")
    victim.send_signal(signal.SIGSTOP)
    try:
        took, out, err = wait_exit(process, 10)
    finally:
        if victim.is_running():
            victim.send_signal(signal.SIGCONT)
    assert took < 10, took
    assert process.returncode == 3, err
    assert re.search(rf"client process 1 \(pid {victim.pid}\) sent nothing for [0-9.]+ s", err), err
    result = json.loads(output.read_text())["harness"]
    assert result["exit"]["status"] == 3 and "sent nothing" in result["exit"]["reason"]
    assert result["totals"]["count"] > 0
    assert not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE
    print(f"client SIGSTOP: the run ended {took:.2f} s later")


def test_duration_bounds_a_rate_that_cannot_be_met(redis_server, tmp_path):
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "2", "--rate", "1e9",
                       "--stats-interval", "1", "--output", str(output), timeout=60)
    ended = time.time()
    assert done.returncode == 0, done.stderr
    document = json.loads(output.read_text())
    started = document["ALL STATS"]["Runtime"]["Start time"] / 1000
    assert ended - started < 5, ended - started
    assert document["harness"]["totals"]["seconds"] < 3
    # The schedule itself ends at the deadline (harness.pacing), so the coordinator's
    # backstop has nothing to stop; how far behind the rate the run fell is reported.
    assert "still sending" not in done.stderr
    assert document["harness"]["run"]["max_schedule_lag_seconds"] > 1.0
    print(f"--rate 1e9 --duration 2: ended {ended - started:.2f} s after the start")


# --- refused before the load -----------------------------------------------------------


def in_private_mount(tmp_path, mount_options: str, fill_bytes: int, *harness_args: str):
    """Run the harness in a mount namespace of its own where tmp_path/fs is a tmpfs
    (mount_options), with fill_bytes already written into it."""
    mount = tmp_path / "fs"
    mount.mkdir()
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    fill = f"head -c {fill_bytes} /dev/zero > {mount}/fill 2>/dev/null; " if fill_bytes else ""
    ro = ""
    if "ro" in mount_options.split(","):
        ro = f"mount -o remount,ro {mount} && "
        mount_options = ",".join(option for option in mount_options.split(",") if option != "ro")
    script = (f"mount -t tmpfs -o {mount_options} tmpfs {mount} && {fill}{ro}exec "
              + " ".join(map(shlex_quote, harness_command(*harness_args))))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", *user, "sh", "-c", script],
                          env=clean_env(), capture_output=True, text=True, timeout=60, cwd=REPO_ROOT), mount


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def ini(tmp_path, text: str) -> str:
    path = tmp_path / "case.ini"
    path.write_text(text)
    return str(path)


def big_config(tmp_path):
    path = tmp_path / "big.ini"
    path.write_text("[run]\n" + "# padding\n" * 120_000)
    return str(path)


REFUSALS = {
    "output is a device": (lambda tmp: ["--output", "/dev/null"], "is a character device, not a regular file"),
    "output directory missing": (lambda tmp: ["--output", str(tmp / "missing" / "r.json")], "does not exist"),
    "output is a directory": (lambda tmp: ["--output", str(tmp)], "is a directory"),
    "log file is a directory": (lambda tmp: ["--log-file", str(tmp)], "is a directory"),
    "log file is a device": (lambda tmp: ["--log-file", "/dev/zero"], "not a regular file"),
    "config file is a device": (lambda tmp: ["-c", "/dev/zero"], "is not a regular file"),
    "config file over 1 MiB": (lambda tmp: ["-c", big_config(tmp)], "at most 1,048,576 are read"),
    "zipfian table too big": (lambda tmp: ["--key-distribution", "zipfian", "--keyspace", "10000000000000"],
                              "zipfian table"),
    "values too big": (lambda tmp: ["--value-size", "536870912", "--client-instances", "256",
                                    "--connections-per-client", "2"], "of memory"),
    "value over the bulk limit": (lambda tmp: ["--value-size", "536870913"], "invalid value_size"),
    # 1 MB does not fit in one argv string (128 KiB at most): it comes from the INI file.
    "key prefix 1 MB": (lambda tmp: ["-c", ini(tmp, "[workload]\nkey_prefix = " + "k" * 1_000_000 + "\n")],
                        "key_prefix"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_before_the_load(redis_server, tmp_path, case):
    make_args, expected = REFUSALS[case]
    before = load_total(redis_server)
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "2", *make_args(tmp_path))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: ") and expected in lines[0], done.stderr
    assert load_total(redis_server) == (before[0] + 1, before[1])  # no connection made, nothing sent
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and stat.S_ISCHR(os.stat("/dev/zero").st_mode)


def test_a_prometheus_port_in_use_is_refused_before_the_load(redis_server):
    import socket

    holder = socket.create_server(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        before = load_total(redis_server)
        done = run_harness("run", "--port", str(redis_server.port), "--duration", "2",
                           "--prometheus-port", str(port))
    finally:
        holder.close()
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot serve /metrics on 127.0.0.1:{port}" in lines[0]
    assert load_total(redis_server) == (before[0] + 1, before[1])


@pytest.mark.parametrize("key, options, fill, expected", [
    ("output", "size=256k", 200 * 1024, "free, and this needs up to"),
    ("output", "size=256k,ro", 0, "cannot create a file"),
    ("log-file", "size=256k", 250 * 1024, "free, and this needs up to"),
])
def test_full_or_read_only_filesystems_are_refused_before_the_load(redis_server, tmp_path, key, options, fill,
                                                                   expected):
    before = load_total(redis_server)
    done, mount = in_private_mount(tmp_path, options, fill, "run", "--port", str(redis_server.port),
                                   "--duration", "2", f"--{key}", str(tmp_path / "fs" / "out"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert load_total(redis_server) == (before[0] + 1, before[1])


def test_a_log_file_that_fills_up_during_the_run_is_one_warning(redis_server, tmp_path):
    done, _ = in_private_mount(tmp_path, "size=64k", 60 * 1024, "run", "--port", str(redis_server.port),
                               "--duration", "2", "--stats-interval", "0.1", "--log-file",
                               str(tmp_path / "fs" / "harness.log"), "--log-max-bytes", "1024",
                               "--log-backups", "9")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot write log_file" in done.stderr and "No space left on device" in done.stderr


# --- telemetry that fails during the run ----------------------------------------------


def test_unreachable_otlp_and_pushgateway_are_warnings(redis_server, tmp_path):
    output = tmp_path / "result.json"
    dead = free_port()
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "2", "--stats-interval", "0.5",
                       "--otlp-endpoint", f"http://otlp:{QUOTED}@127.0.0.1:{dead}",
                       "--pushgateway", f"http://push:{QUOTED}@127.0.0.1:{dead}", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text())["harness"]["exit"] == {"status": 0, "reason": "completed"}
    assert re.search(r"WARNING OTLP export to http://otlp:\*\*\*@127\.0\.0\.1:\d+ failed: .+", done.stderr)
    assert re.search(r"WARNING push to the Pushgateway at http://push:\*\*\*@127\.0\.0\.1:\d+ failed: .+",
                     done.stderr)
    for secret in (PASSWORD, QUOTED):
        assert secret not in done.stdout + done.stderr + output.read_text()


def test_metrics_linger_15(redis_server, tmp_path):
    port = free_port()
    output = tmp_path / "result.json"
    started = time.monotonic()
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "1", "--prometheus-port", str(port),
                       "--metrics-linger", "15", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 15
    assert json.loads(output.read_text())["harness"]["exit"]["status"] == 0


# --- no credential anywhere ---------------------------------------------------------------


def start_pushgateway(tmp_path):
    port = free_port()
    gateway = subprocess.Popen(
        [shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway",
         f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'push.db'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
            return gateway, port
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_no_credential_of_any_url_leaks(redis_server_factory, tmp_path):
    server = redis_server_factory()
    admin = client_for(server)
    admin.execute_command("ACL", "SETUSER", "loader", "on", f">{PASSWORD}", "~*", "&*", "+@all")
    gateway, gateway_port = start_pushgateway(tmp_path)
    receiver = OtlpReceiver()
    metrics_port = free_port()
    output, log = tmp_path / "result.json", tmp_path / "harness.log"
    target = f"redis://loader:{QUOTED}@127.0.0.1:{server.port}"
    otlp = receiver.endpoint.replace("http://", f"http://otel:{QUOTED}@")
    push = f"http://gate:{QUOTED}@127.0.0.1:{gateway_port}"
    urls = ["--url", target, "--otlp-endpoint", otlp, "--pushgateway", push]
    try:
        dry = run_harness("run", *urls, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "loader:***@" in dry.stdout and "otel:***@" in dry.stdout and "gate:***@" in dry.stdout
        process = start_harness("run", *urls, "--duration", "3", "--stats-interval", "0.5",
                                "--prometheus-port", str(metrics_port), "--metrics-linger", "3",
                                "--output", str(output), "--log-file", str(log))
        wait_for_live_line(process)
        # The credentials are in argv, so ps shows them: the harness must have said so.
        assert QUOTED in " ".join(psutil.Process(process.pid).cmdline())
        metrics = json.dumps(sorted(map(str, scrape(metrics_port).items())))
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "visible to other users in ps" in err and "--url" in err and "--pushgateway" in err
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/api/v1/metrics", timeout=5) as response:
            pushed = response.read().decode()
        assert "harness_operations_total" in pushed  # credentials in the URL did not break the push
        assert receiver.metrics  # nor the OTLP export
        invalid = run_harness("run", "--url", f"redis://loader:{PASSWORD}@127.0.0.1:{server.port}")
        assert invalid.returncode == 2 and "invalid url" in invalid.stderr
        everything = {"dry-run": dry.stdout + dry.stderr, "output": out, "errors": err, "log": log.read_text(),
                      "result file": output.read_text(), "/metrics": metrics,
                      "invalid url error": invalid.stderr}
        for where, text in everything.items():
            for secret in (PASSWORD, QUOTED, "cr@t", "%2Fcr"):
                assert secret not in text, f"{secret!r} in {where}"
    finally:
        receiver.close()
        gateway.terminate()
        gateway.wait(timeout=10)


def test_non_loopback_metrics_bind_warns(redis_server):
    done = run_harness("run", "--port", str(redis_server.port), "--prometheus-port", str(free_port()),
                       "--prometheus-bind", "0.0.0.0", "--dry-run")
    assert done.returncode == 0
    assert "prometheus_bind = 0.0.0.0 (option --prometheus-bind): /metrics" in done.stderr
    quiet = run_harness("run", "--port", str(redis_server.port), "--prometheus-port", str(free_port()), "--dry-run")
    assert "prometheus_bind" not in quiet.stderr


# --- leftovers of killed runs -------------------------------------------------------------


def test_stale_prometheus_directories_of_dead_coordinators_are_removed(redis_server, tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f"harness-prometheus-{gone.pid}-abc123"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"\0" * 16)
    alive = tmp_path / f"harness-prometheus-{os.getpid()}-def456"
    alive.mkdir()
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "1",
                       "--prometheus-port", str(free_port()), env=clean_env(TMPDIR=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and alive.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("harness-prometheus-") and p != alive]


@pytest.mark.parametrize("pipeline", ["1", "16"])
def test_connections_killed_every_second_keep_the_counts_exact(redis_server, tmp_path, pipeline):
    """CLIENT KILL every second: what a killed connection had written and not had
    answered is indeterminate. For every command, the server's count lies between the
    answered ones (successes and server errors) and those plus the indeterminate ones;
    before, such operations counted as failed although some had run (GET 20,009 counted
    against 20,003 executed)."""
    client = client_for(redis_server)
    before = commandstats(client)
    output = tmp_path / "result.json"
    run = start_harness("run", "--port", str(redis_server.port), "--workload", "basic_rw", "--duration", "7",
                        "--pipeline", pipeline, "--client-instances", "2", "--connections-per-client", "4",
                        "--output", str(output), "--stats-interval", "1")
    killed = 0
    time.sleep(1.5)
    for _ in range(4):
        killed += client.client_kill_filter(_type="normal", skipme=True)
        time.sleep(1)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert killed >= 8
    after = commandstats(client)
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["indeterminate"] > 0, result["totals"]
    assert set(result["totals"]["indeterminate_by_cause"]) == {"connection"}
    for name, block in result["commands"].items():
        answered = block["count"] - block["indeterminate"] - sum(
            n for (command, kind), n in _errors_by_command(result, name) if kind in ("connection", "timeout"))
        executed = after.get(name, 0) - before.get(name, 0)
        assert answered <= executed <= answered + block["indeterminate"], (name, answered, executed, block)


def _errors_by_command(result: dict, name: str):
    """(command, error type) pairs with counts, from the memtier block's per-command errors."""
    return [((name, kind), n) for kind, n in result["commands"][name].get("errors_by_type", {}).items()]
