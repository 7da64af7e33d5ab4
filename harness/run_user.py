"""A per-run ACL user, so the server itself confines the run to what it owns.

Runs in the coordinator: created after the pre-flight checks and before the fork, removed
after cleanup (also after a failure or Ctrl-C); meanwhile a keeper process (harness:acl,
started before the clients) puts it back on a server that restarted. The client processes, the reporter and
cleanup get an Endpoint that authenticates as this user, so every command of the run -
preload, load, scripts (EVAL, FCALL: a script runs as its caller) and cleanup's UNLINK -
is checked by the server against:

- keys: only `~PREFIX*` (glob characters of the prefix escaped);
- channels (Redis 6.2+): `&PREFIX*`, and pub_sub's PSUBSCRIBE pattern literally, because
  the server matches a subscribed *pattern* literally against the channel rules;
- commands: the configured user's own command rules (so never more than the operator's
  user), then -@admin -@dangerous, minus every command that reaches another database or
  server (SELECT, SWAPDB, MOVE, MIGRATE, COPY: COPY's DB option writes elsewhere).
  Put back: INFO (the live view's server figures), CLIENT SETNAME/GETNAME/ID and CLUSTER
  SLOTS/NODES (redis-py's connection set-up; on 6.2 CLIENT and CLUSTER are @admin as a
  whole), and `SELECT <db>` for the configured database only, since redis-py selects it
  on every connect.

ACLs are per server: the user is created on every node the run may reach (every node
of a cluster, master and replicas under Sentinel, so a promoted replica knows it).
Creating it needs ACL rights and Redis 6+; without them `create` returns None and the
caller refuses scripting by category instead (harness.template_check).

A user left by a killed coordinator is removed by the next run against that server. Its
name carries what proves it stale, since ACL rules can hold no metadata:
`harness-run-<run id>-<created, unix s>-<coordinator pid>-<host tag>`. Stale means no
client on any node is connected as it (CLIENT LIST user=) and its coordinator is gone:
on this machine by its pid, from another machine by age (older than STALE_AFTER).

Shards of one run (harness/shards.py) each create their own user (their coordinators'
pids and hosts differ) and each removes only its own, so shard 0's cleanup never takes
away a user another shard still uses.

Usage:
    with RunUser(endpoint, prefix, run_id) as user:  # user.confined: None without ACL rights
        ...pre-flight checks, then close the pre-flight connection...
        user.keep()
        endpoint = user.confined or endpoint
        ...fork the clients; once they are ready:
        user.wait_kept()
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import re
import secrets
import select
import socket
import subprocess
import sys
import time
from dataclasses import replace

import redis

from harness.acl_keeper import KEEPER_READY
from harness.keyspace import match_pattern
from harness.lifecycle import pid_alive
from harness.parsers import Secret
from harness.target import Endpoint, explain_failure, make_client, sentinel_manager
from harness.template_check import REACHES_OUTSIDE
from workloads.pub_sub import channel_pattern

log = logging.getLogger("harness")

USER_PREFIX = "harness-run-"
# A user of another machine's run is removed only when nobody is connected as it and it
# is older than this: long enough for a run to connect after creating its user.
STALE_AFTER = 600.0
# How often the keeper looks for a node that lost the user (a restart): the run's
# reconnects back off up to 0.5 s, so the user is back before they give up.
KEEP_INTERVAL = 0.25
# How long wait_kept() waits for the keeper to say it is set up.
KEEPER_START_WAIT = 10.0
# Connection set-up that must work under the user even where it is @admin (Redis 6.2).
PUT_BACK = ("+info", "+client|setname", "+client|getname", "+client|id", "+cluster|slots", "+cluster|nodes")
# The run id may hold '-' (a given run_id): the last three fields never do.
_NAME = re.compile(rf"^{re.escape(USER_PREFIX)}([A-Za-z0-9_.-]+?)-(\d+)-(\d+)-([0-9a-f]+)$")


def host_tag() -> str:
    """This machine (host name and boot), short: a pid is only meaningful on it."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
    except OSError:
        boot = ""
    return hashlib.sha256(f"{socket.gethostname()}/{boot}".encode()).hexdigest()[:8]


def user_name(run_id: str, created: int, pid: int, tag: str) -> str:
    return f"{USER_PREFIX}{run_id}-{created}-{pid}-{tag}"


def parse_name(name: str) -> tuple[str, int, int, str] | None:
    """(run id, created, pid, host tag) of a harness run user's name, else None."""
    match = _NAME.match(name)
    return (match[1], int(match[2]), int(match[3]), match[4]) if match else None


class NotConfinable(Exception):
    """The configured user's rights cannot be narrowed into a run user (a reason)."""


def acl_rules(prefix: str, db: int, password_hash: str, existing: set[str], channels: str,
              commands: list[str]) -> list[str]:
    """The ACL SETUSER rules of a run user. `existing`: which of REACHES_OUTSIDE this
    server knows (an unknown name is an error to ACL SETUSER); `channels`: "prefix"
    (channels under the prefix), "none" (the configured user has none) or "unsupported"
    (Redis before 6.2 has no channel rules); `commands`: the configured user's command
    rules, so the run user never gets a command the operator's user lacks (a user
    without DEL still gets NOPERM for DEL)."""
    rules = ["reset", "on", f"#{password_hash}", f"~{match_pattern(prefix)}"]
    if channels != "unsupported":
        rules.append("resetchannels")
    if channels == "prefix":
        rules += [f"&{match_pattern(prefix)}", f"&{channel_pattern(prefix.encode()).decode(errors='surrogateescape')}"]
    rules += [*commands, "-@admin", "-@dangerous", *PUT_BACK]
    rules += [f"-{name.lower()}" for name in REACHES_OUTSIDE if name in existing]
    if db and "SELECT" in existing:
        rules.append(f"+select|{db}")
    return rules


def configured_access(client) -> tuple[list[str], bool]:
    """(command rules, all channels?) of the user the harness is connected as:
    (["+@all", "-del"], True). A user without channel rights (Redis 7's default for a
    new user) gives a run user without channels.

    Raises NotConfinable when that user's keys are not all of them, its channels are
    some but not all, or it has selectors: the run user's ~PREFIX* or &PREFIX* could
    then reach what the configured user cannot, and ACL rules cannot intersect patterns."""
    me = client.execute_command("ACL", "WHOAMI")  # ACL and GETUSER apart: no redis-py parsing
    reply = client.execute_command("ACL", "GETUSER", me)
    if not isinstance(reply, dict):
        reply = dict(zip(reply[::2], reply[1::2]))
    fields = {_text(name): value for name, value in reply.items()}
    flags = {_text(flag) for flag in fields.get("flags") or ()}
    keys, channels = _words(fields.get("keys")), _words(fields.get("channels"))
    all_keys = "allkeys" in flags or keys in (["~*"], ["*"], ["%RW~*"])
    all_channels = "allchannels" in flags or "channels" not in fields or channels in (["&*"], ["*"])
    if not all_keys or (channels and not all_channels) or fields.get("selectors"):
        raise NotConfinable(f"user {_text(me)!r} has narrower keys or channels than all, or selectors")
    return _text(fields.get("commands") or b"").split(), all_channels


def _words(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (bytes, str)):
        return _text(value).split()
    return [_text(item) for item in value]


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def node_endpoints(endpoint: Endpoint) -> list[Endpoint]:
    """Every server the run may send to: the endpoint itself, every node of a cluster,
    or the master and replicas a Sentinel names."""
    plain = replace(endpoint, cluster=False, sentinels=(), service_name="")
    if endpoint.cluster:
        with _client(plain) as seed:
            text = seed.execute_command("CLUSTER", "NODES")  # replicas too, unlike redis-py's node list
        addresses = cluster_node_addresses(_text(text), plain.host)
        return [replace(plain, host=host, port=port, unix_path="") for host, port in addresses]
    if endpoint.sentinels:
        manager = sentinel_manager(endpoint)
        addresses = [manager.discover_master(endpoint.service_name),
                     *manager.discover_slaves(endpoint.service_name)]
        return [replace(plain, host=host, port=port, unix_path="") for host, port in addresses]
    return [plain]


def cluster_node_addresses(text: str, seed_host: str) -> list[tuple[str, int]]:
    """(host, port) of every reachable node in a CLUSTER NODES reply, masters and
    replicas; a node announcing no address is the seed's host."""
    addresses = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or {"fail", "noaddr", "handshake"} & set(fields[2].split(",")):
            continue
        address = fields[1].split("@")[0]
        host, _, port = address.rpartition(":")
        addresses.add((host or seed_host, int(port)))
    return sorted(addresses)


class RunUser:
    """Context manager: creates the user on entry (`confined` is the Endpoint that
    authenticates as it, or None), removes it at exit.

    A server that restarts forgets its ACL users (they live in memory unless an ACL file
    is saved), and the run's reconnects would then fail to authenticate: `keep()` starts
    a small process that puts the user back on any node that lost it.
    """

    def __init__(self, endpoint: Endpoint, prefix: str, run_id: str, now=time.time, pid: int | None = None):
        self.endpoint = endpoint
        self.prefix = prefix
        self.name = user_name(run_id, int(now()), pid or os.getpid(), host_tag())
        self.now = now
        self.created_on: list[tuple[Endpoint, list[str]]] = []
        self.confined: Endpoint | None = None
        self.keeper = None

    def __enter__(self) -> "RunUser":
        self.confined = self.create()
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def create(self) -> Endpoint | None:
        password = secrets.token_urlsafe(32)
        digest = hashlib.sha256(password.encode()).hexdigest()
        try:
            nodes = node_endpoints(self.endpoint)
            remove_stale(nodes, self.now())
            for node in nodes:
                with _client(node) as client:
                    commands, all_channels = configured_access(client)
                    channels = "unsupported" if not _has_channels(client) else "prefix" if all_channels else "none"
                    rules = acl_rules(self.prefix, self.endpoint.db, digest, _existing(client), channels, commands)
                    client.execute_command("ACL SETUSER", self.name, *rules)
                    self.created_on.append((node, rules))
        except (redis.RedisError, OSError, NotConfinable) as exc:
            reason = str(exc) if isinstance(exc, (redis.ResponseError, NotConfinable)) else explain_failure(exc)[0]
            log.info("no per-run ACL user (%s): custom templates are checked by command category instead",
                     " ".join(reason.split())[:160])
            self.remove()
            return None
        log.info("the run's commands go through ACL user %s, confined to keys under %r on %d server(s)",
                 self.name, self.prefix, len(nodes))
        return replace(self.endpoint, username=self.name, password=Secret(password))

    def keep(self) -> None:
        """Start the keeper: a fresh interpreter (not a fork, so it inherits no socket of
        the coordinator's, such as the /metrics listener), told what to keep on stdin -
        never argv, which `ps` shows. Its start (an interpreter and its imports, about
        0.3 CPU-seconds) overlaps the client processes' preparation; `wait_kept` waits
        for the rest before the load starts."""
        if not self.created_on or self.keeper is not None:
            return
        self.keeper = subprocess.Popen(
            [sys.executable, "-c", "from harness.acl_keeper import keeper_main; keeper_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self.keeper.stdin.write(pickle.dumps((self.name, list(self.created_on), KEEP_INTERVAL, os.getpid())))
        self.keeper.stdin.close()

    def wait_kept(self) -> None:
        """Return once the keeper says it is set up (at once without a keeper, or the
        second time): a keeper still starting beside the clients' first half second of
        load, on their cores, had them send at half speed."""
        if self.keeper is None or self.keeper.stdout.closed:
            return
        ready, _, _ = select.select([self.keeper.stdout], [], [], KEEPER_START_WAIT)
        said = self.keeper.stdout.readline() if ready else b""
        self.keeper.stdout.close()
        if said != KEEPER_READY:
            log.warning("the ACL keeper did not start within %g s; the run goes on without it "
                        "(a server that restarts during the run loses the run's user)", KEEPER_START_WAIT)

    def remove(self) -> None:
        """Stop the keeper, then delete the user from every server it was created on;
        safe to call twice."""
        if self.keeper is not None:
            self.keeper.terminate()
            try:
                self.keeper.wait(5)
            except subprocess.TimeoutExpired:
                self.keeper.kill()
                self.keeper.wait()
            self.keeper = None
        while self.created_on:
            node, _ = self.created_on.pop()
            try:
                with _client(node) as client:
                    client.execute_command("ACL DELUSER", self.name)
            except (redis.RedisError, OSError) as exc:
                log.warning("could not remove ACL user %s from %s: %s; the next run against it removes it",
                            self.name, node.describe(), explain_failure(exc)[0])


def remove_stale(nodes: list[Endpoint], now: float, alive=None) -> list[str]:
    """Delete run users that are provably stale on every node; returns their names.
    Best effort: a node that does not answer (or refuses CLIENT LIST) stops it."""
    alive = alive or pid_alive
    tag = host_tag()
    users: dict[str, list[Endpoint]] = {}
    connected: set[str] = set()
    try:
        for node in nodes:
            with _client(node) as client:
                for name in client.execute_command("ACL USERS"):
                    name = _text(name)
                    if parse_name(name):
                        users.setdefault(name, []).append(node)
                if users:
                    for entry in client.client_list():
                        connected.add(entry.get("user", ""))
    except (redis.RedisError, OSError) as exc:
        log.debug("looking for stale run users stopped: %s", exc)
        return []
    stale = []
    for name, holders in users.items():
        _, created, pid, owner = parse_name(name)
        # On this machine the coordinator's pid decides; of another machine, only age.
        gone = not alive(pid) if owner == tag else now - created > STALE_AFTER
        if name in connected or not gone:
            continue
        try:
            for node in holders:
                with _client(node) as client:
                    client.execute_command("ACL DELUSER", name)
        except (redis.RedisError, OSError) as exc:
            log.debug("could not remove stale ACL user %s: %s", name, exc)
            continue
        stale.append(name)
        log.info("removed ACL user %s, left by a run that is gone", name)
    return stale
    return True


def _existing(client) -> set[str]:
    reply = client.execute_command("COMMAND INFO", *REACHES_OUTSIDE)
    return {name for name, entry in zip(REACHES_OUTSIDE, reply) if entry}


def _has_channels(client) -> bool:
    """Channel rules (&pattern) exist from Redis 6.2."""
    version = client.info("server").get("redis_version", "0")
    return tuple(int(part) for part in str(version).split(".")[:2]) >= (6, 2)



def _client(endpoint: Endpoint) -> contextlib.closing:
    """A short-lived client for one node, as the configured user; closed at exit."""
    return contextlib.closing(make_client(endpoint))
