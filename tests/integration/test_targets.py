"""Production-shaped targets that a single redis-server can play: TLS, ACL users,
RESP2 and RESP3, unix sockets, and secrets kept out of sight."""

import json
import subprocess
import time

import psutil
import pytest
import trustme

from tests.conftest import REPO_ROOT, clean_env, client_for, commandstats, harness_command, run_harness
from workloads import WORKLOADS


@pytest.fixture
def tls_server(redis_server_factory, tmp_path):
    """A redis-server with a TLS port and certificates made by a test CA."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    server_cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server_cert.private_key_pem.write_to_path(str(files["key"]))
    from harness.embedded import free_port

    tls_port = free_port()
    server = redis_server_factory("--tls-port", str(tls_port), "--tls-cert-file", str(files["cert"]),
                                  "--tls-key-file", str(files["key"]), "--tls-ca-cert-file", str(files["ca"]),
                                  "--tls-auth-clients", "no")
    return server, tls_port, files


def test_tls_run_with_verification(tls_server, tmp_path):
    server, tls_port, files = tls_server
    output = tmp_path / "result.json"
    done = run_harness("run", "--url", f"rediss://localhost:{tls_port}", "--tls-ca", str(files["ca"]),
                       "--workload", "basic_rw", "--requests", "3000", "--duration", "0", "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["count"] == 3000 and result["totals"]["errors"] == 0
    assert result["run"]["target"] == f"rediss://localhost:{tls_port}"


def test_tls_with_the_wrong_ca_fails_in_one_line(tls_server, tmp_path):
    _, tls_port, _ = tls_server
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    done = run_harness("test-connection", "--url", f"rediss://localhost:{tls_port}", "--tls-ca", str(other))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert "TLS handshake failed" in lines[0] and "certificate verify failed" in lines[0]


def test_acl_user_without_del_gets_noperm_and_the_rest_works(redis_server, tmp_path):
    admin = client_for(redis_server)
    admin.acl_setuser("loader", enabled=True, passwords=["+loader-pw"], keys=["*"], channels=["*"],
                      commands=["+@all", "-del"])
    before = commandstats(admin)
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--username", "loader", "--workload", "basic_rw",
                       "--requests", "5000", "--duration", "0", "--output", str(output),
                       env=clean_env(HARNESS_PASSWORD="loader-pw"))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["errors_by_type"] == {"NOPERM": result["commands"]["DEL"]["count"]}
    assert result["commands"]["DEL"]["count"] > 0
    for name in ("GET", "SET", "INCR"):
        assert result["commands"][name]["errors"] == 0
        assert result["commands"][name]["count"] == commandstats(admin)[name] - before.get(name, 0)


@pytest.mark.parametrize("protocol", ["2", "3"])
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_every_workload_on_resp2_and_resp3(redis_server, workload, protocol, tmp_path):
    output = tmp_path / "result.json"
    done = run_harness("run", "-c", f"config/{workload}.ini", "--port", str(redis_server.port),
                       "--protocol", protocol, "--duration", "1", "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    assert result["totals"]["count"] > 0 and result["totals"]["errors"] == 0


def test_unix_socket_target(redis_server_factory, tmp_path):
    socket_path = tmp_path / "redis.sock"
    server = redis_server_factory("--unixsocket", str(socket_path), "--unixsocketperm", "700")
    before = commandstats(client_for(server))
    output = tmp_path / "result.json"
    done = run_harness("run", "--url", f"unix://{socket_path}", "--workload", "basic_rw", "--requests", "2000",
                       "--duration", "0", "--output", str(output))
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())["harness"]
    assert result["run"]["target"] == f"unix:{socket_path}"
    after = commandstats(client_for(server))
    assert sum(after.get(n, 0) - before.get(n, 0) for n in ("GET", "SET", "INCR", "DEL")) == 2000


def test_no_password_in_ps_logs_results_or_metrics(redis_server_factory, tmp_path):
    server = redis_server_factory("--requirepass", "pa55-sekrit")
    from harness.embedded import free_port

    port = free_port()
    output, log = tmp_path / "result.json", tmp_path / "harness.log"
    process = subprocess.Popen(
        harness_command("run", "--port", str(server.port), "--duration", "4", "--stats-interval", "0.5",
                        "--prometheus-port", str(port), "--metrics-linger", "3", "--output", str(output),
                        "--log-file", str(log), "--log-level", "debug"),
        env=clean_env(HARNESS_PASSWORD="pa55-sekrit"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=REPO_ROOT,
    )
    assert process.stdout.readline().startswith("[ ")
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    assert all("pa55-sekrit" not in " ".join(p.cmdline()) for p in tree)
    import urllib.request

    time.sleep(4)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    for text in (metrics, out, err, output.read_text(), log.read_text()):
        assert "pa55-sekrit" not in text
    assert json.loads(output.read_text())["configuration"]["password"] == "***"
