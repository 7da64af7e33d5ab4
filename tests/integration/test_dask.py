"""harness run --dask: real `dask scheduler` and `dask worker` processes on 127.0.0.1
(free ports, started and stopped here), real redis-server, the harness as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import clean_env, client_for, commandstats, run_harness, start_harness

pytestmark = pytest.mark.integration

DASK = os.path.join(os.path.dirname(sys.executable), "dask")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaskCluster:
    def __init__(self, workers: int):
        from distributed import Client

        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        env = clean_env()
        self.processes = [subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        self.workers = [subprocess.Popen(
            [DASK, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--name", f"w{i}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(workers)]
        self.processes += self.workers
        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def dask_cluster():
    cluster = DaskCluster(workers=2)
    yield cluster
    cluster.stop()


def test_two_shards_through_dask_count_what_the_server_counted(dask_cluster, redis_server, tmp_path):
    output = tmp_path / "merged.json"
    result = run_harness("run", "--dask", dask_cluster.address, "--shards", "2", "--port", str(redis_server.port),
                         "--workload", "basic_rw", "--requests", "200000", "--duration", "0",
                         # paced to last 5 s, so that the merged live line shows every interval
                         "--rate", "40000", "--pipeline", "8", "--stats-interval", "1", "--output", str(output), timeout=240)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "all 2 shards connected" in result.stdout
    document = json.loads(output.read_text())
    totals = document["ALL STATS"]["Totals"]["Count"]
    assert totals == 200000
    stats = commandstats(client_for(redis_server))
    for name, block in document["harness"]["commands"].items():
        assert block["count"] == stats.get(name, 0), name
    dask_block = document["harness"]["dask"]
    assert [shard["status"] for shard in dask_block["shards"]] == [0, 0]
    assert {shard["shard"] for shard in dask_block["shards"]} == {"0/2", "1/2"}
    # each shard sent exactly its share
    assert sorted(block["totals"]["count"] for block in document["harness"]["shards"]) == [100000, 100000]
    # a merged live line per interval, from both shards
    assert "2/2 shards" in result.stdout
    # shard 0 cleaned up once the coordinator saw shard 1 end (no duration to go by)
    assert client_for(redis_server).dbsize() == 0


def test_a_worker_killed_mid_run_loses_its_shard_and_keeps_the_other(dask_cluster, redis_server, tmp_path):
    output = tmp_path / "merged.json"
    harness, lines = start_running(dask_cluster, redis_server, output, duration=30)
    victim = dask_cluster.workers[1]
    victim.send_signal(signal.SIGKILL)
    stdout, stderr = harness.communicate(timeout=90)
    assert harness.returncode == 3, lines + stdout + stderr
    said = lines + stdout + stderr
    assert "was lost" in said and "shard" in said
    document = json.loads(output.read_text())
    shards = document["harness"]["dask"]["shards"]
    assert sorted(shard["status"] for shard in shards if shard["status"] == "lost") == ["lost"]
    assert document["ALL STATS"]["Totals"]["Count"] > 0
    assert document["harness"]["exit"]["status"] == 3


def test_ctrl_c_stops_every_shard_with_results(dask_cluster, redis_server, tmp_path):
    output = tmp_path / "merged.json"
    harness, lines = start_running(dask_cluster, redis_server, output, duration=120)
    asked = time.monotonic()
    harness.send_signal(signal.SIGINT)
    stdout, stderr = harness.communicate(timeout=60)
    took = time.monotonic() - asked
    print(f"stopped both shards {took:.1f} s after SIGINT")
    assert harness.returncode == 130, lines + stdout + stderr
    assert took < 5
    document = json.loads(output.read_text())
    assert [shard["status"] for shard in document["harness"]["dask"]["shards"]] == [143, 143]
    counts = [block["totals"]["count"] for block in document["harness"]["shards"]]
    assert len(counts) == 2 and all(count > 0 for count in counts)
    stats = commandstats(client_for(redis_server))
    for name, block in document["harness"]["commands"].items():
        assert block["count"] + block["indeterminate"] >= stats.get(name, 0) >= block["count"], name


def test_more_shards_than_workers_is_refused_before_any_load(dask_cluster, redis_server):
    result = run_harness("run", "--dask", dask_cluster.address, "--shards", "3", "--port", str(redis_server.port),
                         "--duration", "2")
    assert result.returncode == 2, result.stderr
    assert "needs as many Dask workers" in result.stderr and "has 2" in result.stderr
    assert "Traceback" not in result.stderr
    assert not {"SET", "GET"} & commandstats(client_for(redis_server)).keys()


def test_an_unreachable_scheduler_is_one_line(redis_server):
    result = run_harness("run", "--dask", f"tcp://127.0.0.1:{free_port()}", "--shards", "2",
                         "--port", str(redis_server.port), "--duration", "2", timeout=60)
    assert result.returncode == 3, result.stderr
    assert "cannot reach the Dask scheduler" in result.stderr
    assert "Traceback" not in result.stderr


def start_running(cluster, server, output, duration: int):
    """A 2-shard Dask run at 2,000 ops/s, 3 s into its load: (process, stdout so far)."""
    harness = start_harness("run", "--dask", cluster.address, "--shards", "2", "--port", str(server.port),
                            "--duration", str(duration), "--rate", "2000", "--output", str(output), env=clean_env())
    lines = _read_until(harness, "shards connected", timeout=120)
    time.sleep(3)
    return harness, lines


def _read_until(process: subprocess.Popen, text: str, timeout: float) -> str:
    """Standard output up to and including the first line holding `text`."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} in: {''.join(seen)} {process.stderr.read() if process.poll() is not None else ''}")
