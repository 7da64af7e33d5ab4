#!/usr/bin/env python3
"""The harness against redis-benchmark and resp-benchmark, side by side, in one run.

Starts its own redis-server (pinned to core 0 when the machine has more than one), then
runs each tool on identical settings - connections, pipeline depth, 32-byte values,
100,000 keys, half SET and half GET - in alternation (harness, redis-benchmark,
resp-benchmark, harness, ...) for several rounds, and prints ops/s, p50 and p99 per
tool with the harness-to-peer ratios (median, min-max). Writes the same as JSON.

redis-benchmark and resp-benchmark run SET and GET as two separate tests, so their
figure is the mix: total requests over total time (p50/p99: the worse of the two).
The harness runs one mixed workload (read_ratio 0.5). resp-benchmark is used when
installed (pip install resp-benchmark).

    python scripts/bench.py [--rounds 3] [--seconds 10] [--connections 50]
                            [--pipeline 1,16] [--processes N] [--json bench.json]

--processes defaults to one client process per core the server does not use (cores - 1).
    python scripts/bench.py --scaling 1,2,4 [--seconds 10] [--pipeline 16]

--scaling runs the harness alone with each client_instances count (connections split
evenly) and prints ops/s with how the CPU split between the harness processes and the
server (from the server's INFO used_cpu_sys/user before and after), so users see where
the limit is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.embedded import EmbeddedServer  # noqa: E402

KEYS = 100_000
VALUE = 32


def option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def run_harness(port: int, connections: int, pipeline: int, seconds: int, processes: int) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        output = os.path.join(directory, "result.json")
        per_process = max(1, connections // processes)
        subprocess.run(
            [sys.executable, "-m", "harness", "run", "--port", str(port), "--workload", "high_throughput",
             "--duration", str(seconds), "--client-instances", str(processes),
             "--connections-per-client", str(per_process), "--threads-per-client", "1",
             "--pipeline", str(pipeline), "--keyspace", str(KEYS), "--value-size", str(VALUE),
             "--read-ratio", "0.5", "--cleanup", "false", "--output", output, "--stats-interval", "60"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        with open(output) as handle:
            harness = json.load(handle)["harness"]
    latency = harness["totals"]["latency"]
    return {"ops": harness["totals"]["ops_per_sec"], "p50": latency["p50_ms"], "p99": latency["p99_ms"],
            "cpu": harness["resources"]["ops_per_harness_cpu_second"]}


def run_redis_benchmark(port: int, connections: int, pipeline: int, seconds: int, estimate: float) -> dict:
    # redis-benchmark counts requests, not seconds: size the run from the last estimate.
    requests = max(20_000, int(estimate * seconds / 2))
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", str(connections), "-P", str(pipeline), "-d", str(VALUE),
         "-r", str(KEYS), "-n", str(requests), "-t", "set,get", "--csv"],
        check=True, capture_output=True, text=True,
    ).stdout
    rows = [line.replace('"', "").split(",") for line in out.splitlines() if line.startswith('"SET"')
            or line.startswith('"GET"')]
    rates = [float(row[1]) for row in rows]
    total_time = sum(requests / rate for rate in rates)
    return {"ops": 2 * requests / total_time, "p50": max(float(row[4]) for row in rows),
            "p99": max(float(row[6]) for row in rows)}


def run_resp_benchmark(port: int, connections: int, pipeline: int, seconds: int) -> dict | None:
    tool = shutil.which("resp-benchmark") or os.path.join(os.path.dirname(sys.executable), "resp-benchmark")
    if not os.path.exists(tool):
        return None
    results = []
    for command in (f"SET {{key uniform {KEYS}}} {{value {VALUE}}}", f"GET {{key uniform {KEYS}}}"):
        out = subprocess.run(
            [tool, "-p", str(port), "-c", str(connections), "-P", str(pipeline), "-s", str(max(1, seconds // 2)),
             command], check=True, capture_output=True, text=True,
        )
        # Its last line: "qps: 94450, conn: 50, cnt: 187886, avg: 0.52ms, p99: 2.2ms" (no p50).
        final = re.findall(r"qps: ([0-9.]+), conn: \d+, cnt: \d+, avg: ([0-9.]+)ms, p99: ([0-9.]+)ms",
                           out.stdout + out.stderr)[-1]
        results.append(tuple(float(part) for part in final))
    mix = 2 / sum(1 / qps for qps, _, _ in results)
    return {"ops": mix, "p50": None, "avg": max(r[1] for r in results), "p99": max(r[2] for r in results)}


def _median(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def ratios(mine: list[float], theirs: list[float]) -> dict:
    values = [a / b for a, b in zip(mine, theirs) if b]
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)} if values else {}


def server_cpu_seconds(port: int) -> float:
    import redis

    info = redis.Redis(port=port).info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def scaling(counts: list[int], seconds: int, pipeline: int, connections: int) -> None:
    print(f"{'client_instances':>16} {'ops/s':>10} {'harness CPU':>12} {'server CPU':>11}")
    rows = []
    with EmbeddedServer(("--maxclients", "10000")) as server:
        for processes in counts:
            before = server_cpu_seconds(server.port)
            result = run_harness(server.port, connections, pipeline, seconds, processes)
            server_cpu = (server_cpu_seconds(server.port) - before) / seconds
            harness_cpu = result["ops"] / result["cpu"] if result["cpu"] else 0.0  # cores busy
            rows.append({"client_instances": processes, "ops": result["ops"],
                         "harness_cores": round(harness_cpu, 2), "server_cores": round(server_cpu, 2)})
            print(f"{processes:>16} {result['ops']:>10,.0f} {harness_cpu:>10.2f} c {server_cpu:>9.2f} c", flush=True)
    print(json.dumps(rows))


def main() -> None:
    if "--scaling" in sys.argv:
        scaling([int(n) for n in option("--scaling", "1,2,4").split(",")], int(option("--seconds", "10")),
                int(option("--pipeline", "16")), int(option("--connections", "48")))
        return
    rounds = int(option("--rounds", "3"))
    seconds = int(option("--seconds", "10"))
    connections = int(option("--connections", "50"))
    # The server is pinned to core 0: by default the harness gets the other cores, one
    # client process each, as a user would set client_instances beside a local server.
    processes = int(option("--processes", str(max(1, (os.cpu_count() or 1) - 1))))
    pipelines = [int(p) for p in option("--pipeline", "1,16").split(",")]
    report = {"settings": {"rounds": rounds, "seconds": seconds, "connections": connections,
                           "processes": processes, "keys": KEYS, "value_bytes": VALUE}, "pipelines": {}}
    with EmbeddedServer(("--maxclients", "10000")) as server:
        if (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(server.pid, {0})
        for pipeline in pipelines:
            runs = {"harness": [], "redis-benchmark": [], "resp-benchmark": []}
            estimate = 50_000.0 * pipeline
            for number in range(rounds):
                runs["harness"].append(run_harness(server.port, connections, pipeline, seconds, processes))
                runs["redis-benchmark"].append(run_redis_benchmark(server.port, connections, pipeline, seconds,
                                                                   estimate))
                estimate = runs["redis-benchmark"][-1]["ops"]
                resp = run_resp_benchmark(server.port, connections, pipeline, seconds)
                if resp:
                    runs["resp-benchmark"].append(resp)
                line = "  ".join(f"{tool} {runs[tool][-1]['ops']:>10,.0f}" for tool in runs if runs[tool])
                print(f"pipeline {pipeline:>2} round {number + 1}: {line}", flush=True)
            summary = {tool: {key: _median(results, key) for key in ("ops", "p50", "p99")}
                       for tool, results in runs.items() if results}
            summary["ratios"] = {
                peer: ratios([r["ops"] for r in runs["harness"]], [r["ops"] for r in runs[peer]])
                for peer in ("redis-benchmark", "resp-benchmark") if runs[peer]
            }
            summary["harness_ops_per_cpu_second"] = round(statistics.median(r["cpu"] for r in runs["harness"]))
            report["pipelines"][str(pipeline)] = {"runs": runs, "summary": summary}
            print_table(pipeline, summary)
    path = option("--json", "bench.json")
    with open(path, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"wrote {path}")


def print_table(pipeline: int, summary: dict) -> None:
    print(f"\npipeline {pipeline}: medians")
    print(f"{'tool':<16} {'ops/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
    for tool in ("harness", "redis-benchmark", "resp-benchmark"):
        if tool in summary:
            row = summary[tool]
            p50 = "-" if row["p50"] is None else f"{row['p50']:.3f}"
            print(f"{tool:<16} {row['ops']:>12,.0f} {p50:>8} {row['p99']:>8.3f}")
    for peer, ratio in summary["ratios"].items():
        print(f"harness / {peer}: median {ratio['median']:.3f} (min {ratio['min']:.3f}, max {ratio['max']:.3f})")
    print(f"harness cost: {summary['harness_ops_per_cpu_second']:,} operations per harness CPU-second\n", flush=True)


if __name__ == "__main__":
    main()
