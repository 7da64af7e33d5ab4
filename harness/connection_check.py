"""`harness test-connection`: connect, PING, and say what the target is.

Runs in the command's own process; prints a short report to stdout. Exit 0 when the
server answered, 1 with a one-line reason when it did not.

With no target configured it checks localhost:6379 itself, the server a user means by
"my Redis": starting a private server there, as `harness run` does, would always answer
and so could never tell the user that their Redis is down.
"""

from __future__ import annotations

import time

from harness.cluster import cluster_masters
from harness.errors import ExitStatus, TargetError
from harness.keyspace import DEFAULT_PREFIX_ROOT, count_keys
from harness.plural import plural
from harness.settings import RunConfig
from harness.target import Endpoint, choose_target, connect, explain_failure, open_target, sentinel_manager

PINGS = 10


def test_connection(config: RunConfig, out) -> ExitStatus:
    choice = choose_target(config)
    if choice.auto:
        return _check(choice.endpoint, config, out, unconfigured=True)
    with open_target(config) as endpoint:  # url = embedded still starts one, as asked
        return _check(endpoint, config, out)


def _check(endpoint: Endpoint, config: RunConfig, out, unconfigured: bool = False) -> ExitStatus:
    try:
        client = connect(endpoint, config.connect_retries)
    except TargetError as exc:
        if not unconfigured:
            raise
        raise TargetError(
            f"{exc}; no target is configured, so this checked the default {endpoint.host}:{endpoint.port} "
            "(harness run would start a private redis-server instead when nothing answers there)"
        ) from exc
    try:
        report, is_cluster = _report(client, config)
    except Exception as exc:  # noqa: BLE001 - e.g. NOPERM for INFO under a narrow ACL user
        raise TargetError(f"{endpoint.describe()} answered PING but then: {explain_failure(exc)[0]}") from exc
    finally:
        client.close()
    masters = cluster_masters(endpoint) if is_cluster else None
    print(f"target: {endpoint.describe()}", file=out)
    if endpoint.sentinels:
        host, port = sentinel_manager(endpoint).discover_master(endpoint.service_name)
        print(f"master (named by the Sentinels): {host}:{port}", file=out)
    for line in report:
        print(line, file=out)
    if masters is not None:
        print(f"cluster: {plural(len(masters), 'master')} ({', '.join(masters)})", file=out)
    return ExitStatus.OK


def _report(client, config: RunConfig) -> tuple[list[str], bool]:
    """The report's lines, and whether the server is a cluster node."""
    info = client.info()
    name = info.get("server_name", "redis")
    version = info.get(f"{name}_version") or info.get("redis_version", "?")
    rtts = []
    for _ in range(PINGS):
        start = time.perf_counter()
        client.ping()
        rtts.append((time.perf_counter() - start) * 1000.0)
    prefix = config.key_prefix or DEFAULT_PREFIX_ROOT
    keys, complete = count_keys(client, prefix)
    mode = info.get("redis_mode", "standalone")
    return [
        f"server: {name} {version}",
        f"mode: {mode}",
        f"role: {info.get('role', '?')}",
        f"round trip: min {min(rtts):.3f} ms, avg {sum(rtts) / len(rtts):.3f} ms, "
        f"max {max(rtts):.3f} ms over {PINGS} PINGs",
        f"keys under {prefix!r}: {keys}" + ("" if complete else " or more (SCAN stopped after 5 s)"),
    ], mode == "cluster"
