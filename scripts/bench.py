#!/usr/bin/env python3
"""Everything issue 12 measures, in one invocation: the harness against the C tools and
against itself, on its own redis-server.

    python scripts/bench.py [--rounds 3] [--seconds 5] [--only SECTION[,SECTION]]
                            [--connections 50] [--processes N] [--json bench.json]
    python scripts/bench.py --scaling 1,2,4 [--seconds 10] [--pipeline 16]

The script starts a private redis-server, pins it (all its threads, `taskset -a`) to
core 0 and runs every client - the harness and the peers - under `taskset` on the other
cores (resp-benchmark through its own --cores: it panics under taskset; nothing is
pinned on a one-core machine). Every client run uses 50 connections
(harness: --processes client processes, by default cores - 1, one thread each), 32-byte
values and 100,000 keys unless said otherwise, at pipeline 1 and 16. The server is
flushed before each run (except inside the commands section, see there).

Every tool runs confined, as the harness always does: the harness under its per-run
ACL user (its key prefix only), redis-benchmark and resp-benchmark under an ACL user of
the same shape (their key names only, no @admin or @dangerous command). A confined
user's keys are checked by the server on every command, about 5% of the server's time
per command here; the peers pay it too, so the ratios compare the clients.
--unconfined-peers runs the peers as the default user instead.

Sections (all by default; --only picks some):

  peers      high_throughput (read_ratio 0.5) against redis-benchmark (`-t set,get`) and
             resp-benchmark (SET then GET); their figure is the mix, total requests over
             total time. Harness/redis-benchmark and harness/resp-benchmark, and
             operations per harness CPU-second.
  workloads  basic_rw, list, set, sorted set, hash, pipeline with and without
             `transaction`, each beside a high_throughput run at the same pipeline:
             ops/s, operations per harness CPU-second and its ratio to high_throughput's
             (with `transaction` the harness counts MULTI and EXEC as operations, so the
             figure is also shown without them).
  commands   GET, SET, INCR, LPUSH, RPOP, SADD, SISMEMBER, HSET, HGET, ZADD, ZRANGE one
             at a time: the harness's `custom` workload with one template against
             redis-benchmark with the same command (`-t` for SET/GET/INCR, whose keys are
             key:__rand_int__ / counter:__rand_int__; a custom command otherwise, since
             the built-in LPUSH/RPOP/SADD/HSET use one fixed key), -r 100000, 32-byte
             values (a literal for custom commands), one member/field (m0, f0). The
             server is flushed once per pass and the commands run writer before reader
             (SET before GET, LPUSH before RPOP, ...) so each tool reads what it wrote.
             The harness's keys are key:<n> and key:<type>:<n> (n unpadded, up to 5
             digits), redis-benchmark's key:<12 digits> and <type>:<12 digits>: up to
             about 7 more bytes per command for redis-benchmark.
  keyspace   high_throughput with 10,000,000 keys against 100,000 at each pipeline (ops/s,
             ops per harness CPU-second, and redis-benchmark `-t set,get` over the same
             key range beside it: the server's own cost per operation grows with the keys
             it holds), and with 16 KiB values at pipeline 16 against pipeline 1;
             preparation time of each run.
  paced      high_throughput at --rate 20000 (pipeline 1), PACED_RUNS runs a round, beside
             a closed-loop run: operations per harness CPU-second paced / closed, and the
             largest schedule lag. For comparison, the same ratio of resp-benchmark's own
             (SET at its -t 20000 against its closed loop, CPU time of its process). And
             what one sleep and wake-up costs a process on the client cores, with how
             many operations would have to share each wake-up for paced to cost no more
             than 1/0.75 of closed per operation.

How to read the output: one table per section. Each line is one figure of one case:
its median over the runs, min-max, and for figures the issue sets a goal, the goal and
"ok" or "BELOW". Ratios are computed round by round (each from two runs made one after
the other in the same round) and then summarised, so their median is not the ratio of
medians. The defaults (3 rounds of 5 s runs) take about 23 minutes on a 2-core machine;
the script prints its estimate at the start and the time it took at the end.
The JSON file (--json) holds the same summaries plus every run's raw figures.

Where the figures come from (the harness's result file): ops/s and p50/p99 from
harness.totals; "ops/CPU-s" is harness.resources.ops_per_harness_cpu_second, the
operations over the CPU time the client processes and the reporter used while the load
ran (setup before the start is left out; each client's own figures are in
harness.resources.clients); the schedule lag is
harness.run.max_schedule_lag_seconds; "ops/CPU-s steady" is a cross-check for the
timed phase alone, from the per-second CPU samples the file holds (harness.samples;
needs runs of 4 s or more, "-" otherwise); "preparation s" is the start of the timed phase
("ALL STATS" Runtime "Start time", which the reporter derives from the start signal the
coordinator gives once every client process is ready) minus the moment this script
launched the harness - the file does not hold the preparation time itself.

--scaling runs the harness alone with each client_instances count (connections split
evenly, server not pinned) and prints ops/s with how the CPU split between the harness
processes and the server (from the server's INFO used_cpu_sys/user before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.embedded import EmbeddedServer  # noqa: E402

KEYS = 100_000
VALUE = 32
PIPELINES = (1, 16)
SECTIONS = ("peers", "workloads", "commands", "keyspace", "paced")
BIG_KEYSPACE = 10_000_000
BIG_VALUE = 16 * 1024
RATE = 20_000
PACED_RUNS = 2
VALUE_TEXT = "v" * VALUE  # redis-benchmark's -d does not apply to custom commands

WORKLOADS = (  # label, workload, extra harness options
    ("basic_rw", "basic_rw", {}),
    ("list_operations", "list_operations", {}),
    ("set_operations", "set_operations", {}),
    ("sorted_set_operations", "sorted_set_operations", {}),
    ("hash_operations", "hash_operations", {}),
    ("pipeline", "pipeline", {"transaction": "false"}),
    ("pipeline+transaction", "pipeline", {"transaction": "true"}),
)

COMMANDS = (  # name, harness template, redis-benchmark arguments; writers before readers
    ("SET", "SET {key} {value}", ["-t", "set"]),
    ("GET", "GET {key}", ["-t", "get"]),
    ("INCR", "INCR {key:counter}", ["-t", "incr"]),
    ("LPUSH", "LPUSH {key:list} {value}", ["LPUSH", "list:__rand_int__", VALUE_TEXT]),
    ("RPOP", "RPOP {key:list}", ["RPOP", "list:__rand_int__"]),
    ("SADD", "SADD {key:set} {member}", ["SADD", "set:__rand_int__", "m0"]),
    ("SISMEMBER", "SISMEMBER {key:set} {member}", ["SISMEMBER", "set:__rand_int__", "m0"]),
    ("HSET", "HSET {key:hash} {field} {value}", ["HSET", "hash:__rand_int__", "f0", VALUE_TEXT]),
    ("HGET", "HGET {key:hash} {field}", ["HGET", "hash:__rand_int__", "f0"]),
    ("ZADD", "ZADD {key:zset} {int:0:1000} {member}", ["ZADD", "zset:__rand_int__", "__rand_int__", "m0"]),
    ("ZRANGE", "ZRANGE {key:zset} 0 9", ["ZRANGE", "zset:__rand_int__", "0", "9"]),
)

WAKE_PROBE = """
import resource, time
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start = cpu()
for _ in range(20000):
    time.sleep(50e-6)
print((cpu() - start) / 20000)
"""

# Seconds a run costs beyond its duration (process start, connections, flush), for the
# estimate printed at the start.
HARNESS_OVERHEAD = 1.0
PEER_OVERHEAD = 0.5


# --- the figures, one table printer ----------------------------------------------------

class Figures:
    """section -> case -> figure -> values (one per run or round), with the goals."""

    def __init__(self) -> None:
        self.values: dict = {}
        self.goals: dict = {}

    def add(self, section: str, case: str, figure: str, value: float | None, goal: tuple | None = None) -> None:
        figures = self.values.setdefault(section, {}).setdefault(case, {})
        figures.setdefault(figure, [])
        if value is not None:
            figures[figure].append(value)
        if goal:
            self.goals[(section, case, figure)] = goal

    def summary(self, section: str) -> dict:
        out = {}
        for case, figures in self.values.get(section, {}).items():
            for figure, values in figures.items():
                entry = summarise(values)
                goal = self.goals.get((section, case, figure))
                if goal and values:
                    entry["goal"] = f"{goal[0]} {goal[1]}"
                    entry["met"] = meets(entry["median"], goal)
                out.setdefault(case, {})[figure] = entry
        return out


def summarise(values: list[float]) -> dict:
    if not values:
        return {"runs": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": [round(v, 4) for v in values]}


def meets(value: float, goal: tuple) -> bool:
    operator, threshold = goal
    return value >= threshold if operator == ">=" else value < threshold


def number(value: float, scale: float | None = None) -> str:
    """Whole numbers from 100 up, three decimals below; `scale` picks for a group."""
    return f"{value:,.0f}" if abs(value if scale is None else scale) >= 100 else f"{value:.3f}"


def print_table(title: str, summary: dict) -> None:
    print(f"\n== {title} ==")
    print(f"{'case':<26} {'figure':<36} {'median':>12}  {'min-max':<24} goal")
    for case, figures in summary.items():
        for figure, entry in figures.items():
            if "median" not in entry:
                print(f"{case:<26} {figure:<36} {'-':>12}")
                continue
            scale = entry["max"]
            spread = f"{number(entry['min'], scale)}-{number(entry['max'], scale)}"
            goal = f"{entry['goal']} {'ok' if entry['met'] else 'BELOW'}" if "goal" in entry else ""
            print(f"{case:<26} {figure:<36} {number(entry['median'], scale):>12}  {spread:<24} {goal}")
    sys.stdout.flush()


def ratio(a: dict | None, b: dict | None, key: str = "ops") -> float | None:
    if not a or not b or not a.get(key) or not b.get(key):
        return None
    return a[key] / b[key]


# --- the tools ---------------------------------------------------------------------------

PEER_USER, PEER_PASSWORD = "bench-peer", "bench-peer-password"


def confine_peers(server: EmbeddedServer) -> tuple[str, str]:
    """An ACL user shaped like the harness's per-run user (its keys only, no @admin or
    @dangerous command) for redis-benchmark and resp-benchmark; its user name and
    password. The server checks a confined user's keys on every command, which costs it
    about 5% per command on this kind of machine: a cost of the server's, which every
    peer pays here as the harness does."""
    import redis

    patterns = ["~key:*", "~key_*", "~counter:*", "~list:*", "~set:*", "~hash:*", "~zset:*"]
    redis.Redis(host=server.host, port=server.port).acl_setuser(
        PEER_USER, enabled=True, passwords=[f"+{PEER_PASSWORD}"], keys=patterns, channels=["*"],
        commands=["+@all", "-@admin", "-@dangerous"], reset=True)
    return PEER_USER, PEER_PASSWORD


class Bench:
    def __init__(self, server: EmbeddedServer, args, directory: str, pin: bool = True):
        self.server = server
        self.seconds = args.seconds
        self.connections = args.connections
        self.processes = args.processes
        self.directory = directory
        self.client_cores = pin_server(server.pid) if pin else ""
        self.figures = Figures()
        self.runs: list[dict] = []  # every run's raw figures, for the JSON file
        self.peer_rates: dict[str, float] = {}  # case -> redis-benchmark's last ops/s
        self.peer_login = confine_peers(server) if args.confined_peers else None

    def login(self, user_option: str) -> list[str]:
        """A peer's options to log in as the confined user ([] when not confined)."""
        if not self.peer_login:
            return []
        user, password = self.peer_login
        return [user_option, user, "-a", password]

    def taskset(self) -> list[str]:
        return ["taskset", "-c", self.client_cores] if self.client_cores else []

    def flush(self) -> None:
        import redis

        redis.Redis(host=self.server.host, port=self.server.port).flushall()

    def log(self, section: str, case: str, tool: str, result: dict | None) -> None:
        self.runs.append({"section": section, "case": case, "tool": tool, "result": result})
        if result is None:
            print(f"  {section:<9} {case:<28} {tool:<16} FAILED", flush=True)
            return
        extra = "".join(f"  {key} {number(result[key])}" for key in ("cpu", "cpu_steady", "lag_ms", "prep_s")
                        if result.get(key) is not None)
        extra += f"  ERRORS {result['errors']:,}" if result.get("errors") else ""
        print(f"  {section:<9} {case:<28} {tool:<16} {result['ops']:>12,.0f} ops/s{extra}", flush=True)

    def harness(self, pipeline: int, workload: str = "high_throughput", options: dict | None = None,
                config: str | None = None, processes: int | None = None, seconds: int | None = None) -> dict | None:
        """One harness run; None if it wrote no result file."""
        processes = processes or self.processes
        seconds = seconds or self.seconds
        output = os.path.join(self.directory, "result.json")
        if os.path.exists(output):
            os.unlink(output)
        settings = {"host": self.server.host, "port": self.server.port, "workload": workload,
                    "duration": seconds, "client-instances": processes,
                    "connections-per-client": max(1, self.connections // processes), "threads-per-client": 1,
                    "pipeline": pipeline, "keyspace": KEYS, "value-size": VALUE, "read-ratio": 0.5,
                    "cleanup": "false", "output": output, "stats-interval": 1}
        settings.update(options or {})
        command = [*self.taskset(), sys.executable, "-m", "harness", "run", *(["-c", config] if config else [])]
        command += [f"--{key}={value}" for key, value in settings.items()]
        launched = time.time()
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.time() - launched
        if not os.path.exists(output):
            print(f"harness failed (exit {done.returncode}): {done.stderr.strip()[-800:]}", file=sys.stderr)
            return None
        with open(output) as handle:
            document = json.load(handle)
        block = document["harness"]
        totals = block["totals"]
        started = document["ALL STATS"]["Runtime"]["Start time"] / 1000
        return {"ops": totals["ops_per_sec"], "p50": totals["latency"].get("p50_ms"),
                "p99": totals["latency"].get("p99_ms"), "errors": totals["errors"], "count": totals["count"],
                "cpu": block["resources"].get("ops_per_harness_cpu_second"),
                "cpu_steady": steady_ops_per_cpu(block, seconds),
                "multi_exec": sum(block["commands"].get(name, {}).get("count", 0) for name in ("MULTI", "EXEC")),
                "lag_ms": 1000 * block["run"].get("max_schedule_lag_seconds", 0.0),
                "prep_s": started - launched, "wall_s": wall, "exit": done.returncode}

    def redis_benchmark(self, pipeline: int, requests: int, arguments: list[str], keys: int = KEYS) -> list[dict]:
        """One redis-benchmark invocation: one row per test ({name, ops, p50, p99})."""
        out = subprocess.run(
            [*self.taskset(), "redis-benchmark", "-h", self.server.host, "-p", str(self.server.port),
             *self.login("--user"), "-c", str(self.connections), "-P", str(pipeline), "-r", str(keys),
             "-n", str(requests), "-d", str(VALUE), "--csv", *arguments],
            check=True, capture_output=True, text=True,
        ).stdout
        rows = []
        for line in out.splitlines():
            fields = line.replace('"', "").split(",")
            if len(fields) >= 7 and fields[0] != "test":
                rows.append({"name": fields[0], "ops": float(fields[1]), "p50": float(fields[4]),
                             "p99": float(fields[6])})
        return rows

    def redis_benchmark_mix(self, pipeline: int, requests: int, tests: str, keys: int = KEYS) -> dict:
        """Several tests as one figure: total requests over total time; the worse p50/p99."""
        rows = self.redis_benchmark(pipeline, requests, ["-t", tests], keys)
        total_time = sum(requests / row["ops"] for row in rows)
        return {"ops": len(rows) * requests / total_time, "p50": max(row["p50"] for row in rows),
                "p99": max(row["p99"] for row in rows)}

    def resp_benchmark_command(self, *arguments: str) -> list[str] | None:
        """resp-benchmark's command line against the server (None when it is not
        installed). Not under taskset (it then panics: it indexes the machine's cores);
        its --cores pins its workers instead."""
        tool = shutil.which("resp-benchmark") or os.path.join(os.path.dirname(sys.executable), "resp-benchmark")
        if not os.path.exists(tool):
            return None
        cores = ["--cores", ",".join(map(str, range(1, os.cpu_count() or 1)))] if self.client_cores else []
        return [tool, *cores, "-h", self.server.host, "-p", str(self.server.port), *self.login("-u"),
                "-c", str(self.connections), *arguments]

    def resp_benchmark(self, pipeline: int) -> dict | None:
        results = []
        for command in (f"SET {{key uniform {KEYS}}} {{value {VALUE}}}", f"GET {{key uniform {KEYS}}}"):
            line = self.resp_benchmark_command("-P", str(pipeline), "-s", str(max(1, self.seconds // 2)), command)
            if line is None:
                return None
            out = subprocess.run(line, check=True, capture_output=True, text=True)
            # Its last line: "qps: 94450, conn: 50, cnt: 187886, avg: 0.52ms, p99: 2.2ms" (no p50).
            final = re.findall(r"qps: ([0-9.]+), conn: \d+, cnt: \d+, avg: ([0-9.]+)ms, p99: ([0-9.]+)ms",
                               out.stdout + out.stderr)[-1]
            results.append(tuple(float(part) for part in final))
        return {"ops": 2 / sum(1 / qps for qps, _, _ in results), "p99": max(r[2] for r in results)}

    def resp_benchmark_cpu(self, rate: int = 0) -> dict | None:
        """resp-benchmark alone, SET at pipeline 1 for `seconds`, closed (rate 0) or at
        `rate` ops/s (its -t): ops/s and operations per CPU-second of its process (user
        and system time, from the kernel's accounting of the child)."""
        command = self.resp_benchmark_command("-P", "1", "-s", str(self.seconds), "-t", str(rate),
                                              f"SET {{key uniform {KEYS}}} {{value {VALUE}}}")
        if command is None:
            return None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        qps, count = re.findall(r"qps: ([0-9.]+), conn: \d+, cnt: (\d+)", out.stdout + out.stderr)[-1]
        return {"ops": float(qps), "cpu": int(count) / cpu if cpu else None}

    def wake_cost(self) -> float:
        """CPU seconds one sleep-and-wake-up costs a process on the client cores (a
        50 us sleep, 20,000 times): what a paced sender pays each time it waits for its
        next send, whatever the client."""
        out = subprocess.run([*self.taskset(), sys.executable, "-c", WAKE_PROBE], check=True, capture_output=True,
                             text=True).stdout
        return float(out)

    def requests_for(self, case: str, ops: float | None, tests: int = 1) -> int:
        """redis-benchmark counts requests, not seconds: enough for `seconds` at the
        faster of the harness's rate just before and redis-benchmark's last rate in this
        case, so it runs at least about as long as the harness did."""
        rate = max(ops or 50_000, self.peer_rates.get(case, 0))
        return max(20_000, int(rate * self.seconds / tests))

    def remember(self, case: str, result: dict | None) -> None:
        if result:
            self.peer_rates[case] = result["ops"]


def steady_ops_per_cpu(block: dict, seconds: float) -> float | None:
    """An estimate of operations per harness CPU-second while the load runs (the result
    file's own figure counts each process's whole life, start and preparation included):
    ops/s over the cores the harness processes kept busy in the per-second samples,
    leaving out the first (psutil's first reading of a process is 0) and the last (it
    may straddle the end). None when no sample is left: runs under about 4 s."""
    busy = [sum(figures["cpu_percent"] for name, figures in sample["processes"].items()
                if name.startswith("harness:")) / 100
            for sample in block.get("samples", [])[1:] if sample["second"] < seconds - 0.5
            and any(name.startswith("harness:client") for name in sample["processes"])]
    return block["totals"]["ops_per_sec"] / statistics.mean(busy) if busy and min(busy) > 0 else None


def pin_server(pid: int) -> str:
    """Pin every thread of the server to core 0; the cores left for the clients ("1-N"),
    or "" on a one-core machine."""
    cores = os.cpu_count() or 1
    if cores < 2 or not shutil.which("taskset"):
        return ""
    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(pid)], check=True, stdout=subprocess.DEVNULL)
    return f"1-{cores - 1}" if cores > 2 else "1"


# --- the sections, one round each ------------------------------------------------------

def peers_round(bench: Bench) -> None:
    for pipeline in PIPELINES:
        case = f"P{pipeline}"
        bench.flush()
        mine = bench.harness(pipeline)
        bench.log("peers", case, "harness", mine)
        bench.flush()
        theirs = bench.redis_benchmark_mix(pipeline, bench.requests_for(f"peers {case}", mine and mine["ops"], 2),
                                           "set,get")
        bench.remember(f"peers {case}", theirs)
        bench.log("peers", case, "redis-benchmark", theirs)
        bench.flush()
        resp = bench.resp_benchmark(pipeline)
        if resp:
            bench.log("peers", case, "resp-benchmark", resp)
        add = bench.figures.add
        add("peers", case, "harness ops/s", mine and mine["ops"])
        add("peers", case, "harness p50 ms", mine and mine["p50"])
        add("peers", case, "harness p99 ms", mine and mine["p99"])
        add("peers", case, "redis-benchmark ops/s", theirs["ops"])
        add("peers", case, "redis-benchmark p50 ms", theirs["p50"])
        add("peers", case, "redis-benchmark p99 ms", theirs["p99"])
        add("peers", case, "resp-benchmark ops/s", resp and resp["ops"])
        add("peers", case, "harness / redis-benchmark", ratio(mine, theirs), (">=", 0.9 if pipeline == 1 else 0.95))
        add("peers", case, "harness / resp-benchmark", ratio(mine, resp))
        add("peers", case, "harness ops/CPU-s", mine and mine["cpu"])
        add("peers", case, "harness ops/CPU-s steady", mine and mine["cpu_steady"])


def workloads_round(bench: Bench) -> None:
    for pipeline in PIPELINES:
        bench.flush()
        reference = bench.harness(pipeline)
        bench.log("workloads", f"high_throughput P{pipeline}", "harness", reference)
        bench.figures.add("workloads", f"high_throughput P{pipeline}", "ops/s", reference and reference["ops"])
        bench.figures.add("workloads", f"high_throughput P{pipeline}", "ops/CPU-s", reference and reference["cpu"])
        bench.figures.add("workloads", f"high_throughput P{pipeline}", "ops/CPU-s steady",
                          reference and reference["cpu_steady"])
        for label, workload, options in WORKLOADS:
            case = f"{label} P{pipeline}"
            bench.flush()
            result = bench.harness(pipeline, workload, options)
            bench.log("workloads", case, "harness", result)
            bench.figures.add("workloads", case, "ops/s", result and result["ops"])
            bench.figures.add("workloads", case, "ops/CPU-s", result and result["cpu"])
            bench.figures.add("workloads", case, "ops/CPU-s steady", result and result["cpu_steady"])
            # With `transaction` the goal applies to the figure without MULTI/EXEC, below.
            transaction = options.get("transaction") == "true"
            bench.figures.add("workloads", case, "ops/CPU-s / high_throughput's",
                              ratio(result, reference, "cpu"), None if transaction else (">=", 0.8))
            bench.figures.add("workloads", case, "steady ops/CPU-s / high_throughput's",
                              ratio(result, reference, "cpu_steady"))
            if result and result["multi_exec"]:
                # The harness counts MULTI and EXEC as operations: the same without them.
                data = {"cpu": result["cpu"] * (1 - result["multi_exec"] / result["count"])}
                bench.figures.add("workloads", case, "ops/CPU-s without MULTI/EXEC", data["cpu"])
                bench.figures.add("workloads", case, "the same / high_throughput's", ratio(data, reference, "cpu"),
                                  (">=", 0.8))


def template_config(bench: Bench, name: str, template: str) -> str:
    """An INI file for the custom workload with one template (multi-line values are
    awkward on the command line): fixed key prefix, one member and one field."""
    path = os.path.join(bench.directory, f"{name}.ini")
    with open(path, "w") as handle:
        # The server holds the keys the previous command wrote under key: (the reader
        # reads them), so the prefix is reused on purpose; it is this script's own server.
        handle.write(f"[workload]\nkey_prefix = key:\nreuse_prefix = true\nmembers = 1\nhash_fields = 1\n"
                     f"commands =\n    1 {template}\n")
    return path


def commands_round(bench: Bench) -> None:
    for pipeline in PIPELINES:
        bench.flush()  # once per pass: readers read what the writers before them wrote
        for name, template, arguments in COMMANDS:
            case = f"{name} P{pipeline}"
            mine = bench.harness(pipeline, "custom", config=template_config(bench, name, template))
            bench.log("commands", case, "harness", mine)
            rows = bench.redis_benchmark(pipeline, bench.requests_for(case, mine and mine["ops"]), arguments)
            theirs = rows[0] if rows else None
            bench.remember(case, theirs)
            bench.log("commands", case, "redis-benchmark", theirs)
            bench.figures.add("commands", case, "harness ops/s", mine and mine["ops"])
            bench.figures.add("commands", case, "redis-benchmark ops/s", theirs and theirs["ops"])
            bench.figures.add("commands", case, "harness / redis-benchmark", ratio(mine, theirs), (">=", 0.9))
            if mine and mine["errors"]:
                bench.figures.add("commands", case, "harness errors", mine["errors"])


def keyspace_round(bench: Bench) -> None:
    add = bench.figures.add
    for pipeline in PIPELINES:
        results = {}
        for keys in (KEYS, BIG_KEYSPACE):
            case = f"{keys:,} keys P{pipeline}"
            bench.flush()
            results[keys] = mine = bench.harness(pipeline, options={"keyspace": keys})
            bench.log("keyspace", case, "harness", mine)
            # The server's own cost grows with the keys it holds (a SET of a new key
            # allocates it and grows the table): redis-benchmark over the same key range
            # shows how much of a change is the server's.
            bench.flush()
            theirs = bench.redis_benchmark_mix(
                pipeline, bench.requests_for(f"keyspace {case}", mine and mine["ops"], 2), "set,get", keys)
            bench.remember(f"keyspace {case}", theirs)
            bench.log("keyspace", case, "redis-benchmark", theirs)
            add("keyspace", case, "ops/s", mine and mine["ops"])
            add("keyspace", case, "ops/CPU-s", mine and mine["cpu"])
            add("keyspace", case, "redis-benchmark ops/s", theirs["ops"])
            add("keyspace", case, "harness / redis-benchmark", ratio(mine, theirs))
            add("keyspace", case, "preparation s", mine and mine["prep_s"])
        case = f"{BIG_KEYSPACE:,} keys P{pipeline}"
        add("keyspace", case, f"ops/s / {KEYS:,} keys'", ratio(results[BIG_KEYSPACE], results[KEYS]), (">=", 0.9))
        add("keyspace", case, f"ops/CPU-s / {KEYS:,} keys'", ratio(results[BIG_KEYSPACE], results[KEYS], "cpu"))
    big = {}
    for pipeline in PIPELINES:
        case = f"16 KiB values P{pipeline}"
        bench.flush()
        big[pipeline] = bench.harness(pipeline, options={"value-size": BIG_VALUE})
        bench.log("keyspace", case, "harness", big[pipeline])
        add("keyspace", case, "ops/s", big[pipeline] and big[pipeline]["ops"])
        add("keyspace", case, "p50 ms", big[pipeline] and big[pipeline]["p50"])
        add("keyspace", case, "preparation s", big[pipeline] and big[pipeline]["prep_s"], ("<", 1.0))
    add("keyspace", f"16 KiB values P{PIPELINES[-1]}", f"ops/s / P{PIPELINES[0]}'s",
        ratio(big[PIPELINES[-1]], big[PIPELINES[0]]), (">=", 1.0))


def paced_round(bench: Bench) -> None:
    add = bench.figures.add
    bench.flush()
    closed = bench.harness(1)
    bench.log("paced", "closed loop P1", "harness", closed)
    add("paced", "closed loop P1", "ops/s", closed and closed["ops"])
    add("paced", "closed loop P1", "ops/CPU-s", closed and closed["cpu"])
    add("paced", "closed loop P1", "ops/CPU-s steady", closed and closed["cpu_steady"])
    for _ in range(PACED_RUNS):
        case = f"rate {RATE:,} P1"
        bench.flush()
        paced = bench.harness(1, options={"rate": RATE})
        bench.log("paced", case, "harness", paced)
        add("paced", case, "ops/s", paced and paced["ops"])
        add("paced", case, "p99 ms", paced and paced["p99"])
        add("paced", case, "ops/CPU-s", paced and paced["cpu"])
        add("paced", case, "ops/CPU-s / closed loop's", ratio(paced, closed, "cpu"), (">=", 0.75))
        add("paced", case, "ops/CPU-s steady", paced and paced["cpu_steady"])
        add("paced", case, "steady ops/CPU-s / closed loop's", ratio(paced, closed, "cpu_steady"))
        add("paced", case, "max schedule lag ms", paced and paced["lag_ms"], ("<", 5.0))
    # The same question asked of a native client: resp-benchmark's operations per CPU-second
    # at the same rate against its own closed loop (SET, pipeline 1, same connections).
    peer_closed = bench.resp_benchmark_cpu()
    bench.log("paced", "closed loop P1", "resp-benchmark", peer_closed)
    peer_paced = bench.resp_benchmark_cpu(RATE)
    bench.log("paced", f"rate {RATE:,} P1", "resp-benchmark", peer_paced)
    add("paced", f"rate {RATE:,} P1", "resp-benchmark ops/CPU-s / its closed loop's",
        ratio(peer_paced, peer_closed, "cpu"))
    # What waiting costs on this machine: a paced sender sleeps until its next send is
    # due. For paced ops/CPU-s to be 0.75 of the closed loop's, a paced operation may cost
    # 1/0.75 - 1 = 1/3 of a closed-loop one more, so that many operations must share
    # each wake-up (sent together, late by up to that many intervals: 50 us each at
    # 20,000 ops/s).
    wake = bench.wake_cost()
    add("paced", "this machine", "CPU us per sleep and wake-up", 1e6 * wake)
    if closed and closed["cpu"]:
        add("paced", "this machine", "operations per wake-up for 0.75", 3 * wake * closed["cpu"])


ROUNDS = {"peers": peers_round, "workloads": workloads_round, "commands": commands_round,
          "keyspace": keyspace_round, "paced": paced_round}

TITLES = {
    "peers": "peers: high_throughput, harness vs redis-benchmark and resp-benchmark",
    "workloads": "workloads: harness operations per harness CPU-second vs high_throughput's",
    "commands": "commands: custom template vs redis-benchmark, same command",
    "keyspace": f"keyspace: {BIG_KEYSPACE:,} vs {KEYS:,} keys; 16 KiB values, P16 vs P1",
    "paced": f"paced: --rate {RATE:,} vs the closed loop, pipeline 1",
}


def expected_seconds(sections: list[str], rounds: int, seconds: int) -> float:
    harness = seconds + HARNESS_OVERHEAD
    peer = seconds + PEER_OVERHEAD
    per_round = {
        "peers": len(PIPELINES) * (harness + peer + 2 * max(1, seconds // 2) + 2 * PEER_OVERHEAD),
        "workloads": len(PIPELINES) * (len(WORKLOADS) + 1) * harness,
        "commands": len(PIPELINES) * len(COMMANDS) * (harness + peer),
        "keyspace": len(PIPELINES) * (3 * harness + 2 * peer) + 20,  # + flushing 10M keys
        "paced": (PACED_RUNS + 1) * harness + 2 * peer,
    }
    return rounds * sum(per_round[section] for section in sections)


def matrix(args) -> None:
    sections = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    estimate = expected_seconds(sections, args.rounds, args.seconds)
    print(f"sections {', '.join(sections)}; {args.rounds} rounds of {args.seconds} s runs; "
          f"expected duration about {estimate / 60:.0f} min ({estimate:.0f} s)", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as directory, EmbeddedServer(("--maxclients", "10000")) as server:
        bench = Bench(server, args, directory)
        print(f"redis-server on port {server.port}, core 0; clients on cores {bench.client_cores or 'any'}; "
              f"harness: {args.processes} process(es) x {max(1, args.connections // args.processes)} connections",
              flush=True)
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds}", flush=True)
            for section in sections:
                ROUNDS[section](bench)
    report = {"settings": {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections,
                           "processes": args.processes, "keys": KEYS, "value_bytes": VALUE,
                           "pipelines": list(PIPELINES), "sections": sections,
                           "client_cores": bench.client_cores, "server_core": 0 if bench.client_cores else None},
              "sections": {}, "runs": bench.runs}
    for section in sections:
        summary = bench.figures.summary(section)
        report["sections"][section] = summary
        print_table(TITLES[section], summary)
    elapsed = time.monotonic() - began
    report["elapsed_seconds"] = round(elapsed, 1)
    with open(args.json, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"\ntook {elapsed / 60:.1f} min (expected {estimate / 60:.1f}); wrote {args.json}")


# --- scaling -----------------------------------------------------------------------------

def server_cpu_seconds(port: int) -> float:
    import redis

    info = redis.Redis(port=port).info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def scaling(args) -> None:
    counts = [int(n) for n in args.scaling.split(",")]
    pipeline = int(args.pipeline)
    print(f"{'client_instances':>16} {'ops/s':>10} {'harness CPU':>12} {'server CPU':>11}")
    rows = []
    with tempfile.TemporaryDirectory() as directory, EmbeddedServer(("--maxclients", "10000")) as server:
        bench = Bench(server, args, directory, pin=False)  # the processes share every core
        for processes in counts:
            before = server_cpu_seconds(server.port)
            result = bench.harness(pipeline, processes=processes)
            server_cpu = (server_cpu_seconds(server.port) - before) / args.seconds
            harness_cpu = result["ops"] / result["cpu"] if result["cpu"] else 0.0  # cores busy
            rows.append({"client_instances": processes, "ops": result["ops"],
                         "harness_cores": round(harness_cpu, 2), "server_cores": round(server_cpu, 2)})
            print(f"{processes:>16} {result['ops']:>10,.0f} {harness_cpu:>10.2f} c {server_cpu:>9.2f} c", flush=True)
    print(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=None, help="seconds a run (default 5; 10 with --scaling)")
    parser.add_argument("--only", default="", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--json", default="bench.json")
    parser.add_argument("--connections", type=int, default=None, help="default 50 (48 with --scaling)")
    parser.add_argument("--processes", type=int, default=max(1, (os.cpu_count() or 1) - 1),
                        help="harness client processes (default: cores - 1)")
    parser.add_argument("--unconfined-peers", dest="confined_peers", action="store_false",
                        help="run redis-benchmark and resp-benchmark as the default user (all keys)")
    parser.add_argument("--scaling", default="", help="client_instances counts, e.g. 1,2,4")
    parser.add_argument("--pipeline", default="16", help="--scaling only")
    args = parser.parse_args()
    if args.scaling:
        args.seconds = args.seconds or 10
        args.connections = args.connections or 48
        scaling(args)
        return
    args.seconds = args.seconds or 5
    args.connections = args.connections or 50
    matrix(args)


if __name__ == "__main__":
    main()
