"""`harness test-connection` against real redis-server processes (never the one on 6379)."""

import shlex
import subprocess
import sys
import time

import pytest

from harness.embedded import free_port
from tests.conftest import REPO_ROOT, client_for, clean_env, harness_command, run_harness


def port_args(server):
    return ["--host", server.host, "--port", str(server.port)]


def test_reports_a_live_server(redis_server):
    client = client_for(redis_server)
    client.set("harness:old:1", "x")
    client.set("harness:old:2", "x")
    client.set("unrelated", "x")
    done = run_harness("test-connection", *port_args(redis_server))
    assert done.returncode == 0, done.stderr
    version = client.info("server")["redis_version"]
    lines = done.stdout.splitlines()
    assert f"target: redis://{redis_server.host}:{redis_server.port}" in lines
    assert f"server: redis {version}" in lines
    assert "mode: standalone" in lines
    assert "role: master" in lines
    rtt = next(line for line in lines if line.startswith("round trip:"))
    assert "min" in rtt and "avg" in rtt and "max" in rtt and "over 10 PINGs" in rtt
    assert "keys under 'harness:': 2" in lines
    # It looked, it did not touch.
    assert client.dbsize() == 3 and client.get("unrelated") == b"x"


def test_counts_keys_under_a_configured_prefix(redis_server):
    client = client_for(redis_server)
    client.mset({"load*test:1": 1, "load*test:2": 1, "loadXtest:3": 1})
    done = run_harness("test-connection", *port_args(redis_server), "--key-prefix", "load*test:")
    assert "keys under 'load*test:': 2" in done.stdout.splitlines(), done.stdout


def failure_line(done):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("harness: test-connection failed: cannot connect to ")
    return lines[0]


def test_nothing_listening():
    port = free_port()
    done = run_harness("test-connection", "--port", str(port), "--connect-retries", "1")
    line = failure_line(done)
    assert f"localhost:{port} after 2 attempts: connection refused" in line


def test_nothing_listening_on_a_port_from_the_environment():
    # The default target is overridden only the normal way (here HARNESS_PORT), and an
    # explicit target never falls back to a private server.
    port = free_port()
    done = run_harness("test-connection", env=clean_env(HARNESS_PORT=str(port), HARNESS_CONNECT_RETRIES="0"))
    line = failure_line(done)
    assert line == f"harness: test-connection failed: cannot connect to redis://localhost:{port}: " \
                   "connection refused (nothing listening?)"
    assert "private redis-server" not in done.stderr


def in_private_network(script: str):
    """Run `script` (sh) where localhost is a loopback of its own (unshare -rn): its
    6379 is free and the machine's Redis on 6379 can be neither seen nor touched."""
    return subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up && " + script],
                          capture_output=True, text=True, timeout=120, env=clean_env(), cwd=REPO_ROOT)


def test_nothing_configured_and_nothing_on_6379_fails_without_starting_a_server():
    done = in_private_network("exec " + shlex.join(harness_command("test-connection")))
    line = failure_line(done)
    assert line == ("harness: test-connection failed: cannot connect to redis://localhost:6379 after 4 attempts: "
                    "connection refused (nothing listening?); no target is configured, so this checked the "
                    "default localhost:6379 (harness run would start a private redis-server instead when "
                    "nothing answers there)")
    assert done.stdout == ""


def test_nothing_configured_checks_the_server_on_6379(tmp_path):
    # In the private network a redis-server on 6379 is the "machine's Redis": it is the
    # one reported, and no private server is started beside it.
    script = tmp_path / "check.py"
    script.write_text(
        "import subprocess, sys\n"
        "from harness.embedded import EmbeddedServer\n"
        "with EmbeddedServer(port=6379) as server:\n"
        f"    done = subprocess.run({harness_command('test-connection')!r}, capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr); sys.exit(done.returncode)\n"
    )
    done = in_private_network(shlex.join([sys.executable, str(script)]))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "target: redis://localhost:6379" and "role: master" in lines
    assert "private redis-server" not in done.stderr


def test_wrong_password(redis_server_factory):
    server = redis_server_factory("--requirepass", "right-one")
    env = clean_env(HARNESS_PASSWORD="wrong-one")
    line = failure_line(run_harness("test-connection", *port_args(server), env=env))
    assert line.endswith("authentication failed (wrong user name or password)")
    assert "wrong-one" not in line and "right-one" not in line


def test_password_missing(redis_server_factory):
    server = redis_server_factory("--requirepass", "right-one")
    line = failure_line(run_harness("test-connection", *port_args(server)))
    assert line.endswith("authentication failed (the server requires a password)")


def test_right_password_from_file(redis_server_factory, tmp_path):
    server = redis_server_factory("--requirepass", "right-one")
    secret = tmp_path / "pw"
    secret.write_text("right-one\n")
    done = run_harness("test-connection", *port_args(server), "--password-file", str(secret))
    assert done.returncode == 0, done.stderr
    assert "right-one" not in done.stdout + done.stderr


def test_unknown_host():
    line = failure_line(run_harness("test-connection", "--host", "no-such-host.invalid"))
    assert line.endswith("unknown host")


def test_tls_to_a_plain_port(redis_server):
    done = run_harness(
        "test-connection", "--url", f"rediss://{redis_server.host}:{redis_server.port}",
        "--connect-retries", "0", "--socket-timeout", "1",
    )
    assert "TLS handshake failed" in failure_line(done)


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_protocol_not_supported(redis_server_factory, protocol):
    # A server without HELLO answers like Redis 5: RESP3 cannot be negotiated there.
    server = redis_server_factory("--rename-command", "HELLO", "")
    done = run_harness("test-connection", *port_args(server), "--protocol", protocol)
    if protocol == "2":
        assert done.returncode == 0, done.stderr
    else:
        assert "protocol not supported" in failure_line(done)


def test_retries_until_the_server_comes_up(redis_server_factory):
    port = free_port()
    process = subprocess.Popen(
        harness_command("test-connection", "--port", str(port), "--connect-retries", "8"),
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(0.8)
    redis_server_factory(port=port)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "role: master" in out
