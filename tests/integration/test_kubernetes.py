"""deploy/kubernetes/harness-job.yaml, rendered as its guide renders it (envsubst's
${VAR}) and run as Kubernetes would run it: one local process per completion index,
with the container's command line as it stands (Kubernetes' $(VAR) expansion from the
container's environment, JOB_COMPLETION_INDEX set), each volume a local directory."""

import json
import os
import re
import string
import subprocess
import sys
import time

import yaml

from tests.conftest import REPO_ROOT, _STARTED, clean_env, client_for, commandstats

MANIFEST = os.path.join(REPO_ROOT, "deploy", "kubernetes", "harness-job.yaml")
SHARDS = 2
INI = """\
[run]
workload = high_throughput
requests = 40001
duration = 0
client_instances = 1
[workload]
cleanup = false
[thresholds]
ops_per_sec > 1000000000
"""


def render(values: dict) -> dict:
    text = string.Template(open(MANIFEST, encoding="utf-8").read()).safe_substitute(values)
    assert "${" not in text, "a placeholder the guide does not fill"
    return yaml.safe_load(text)


def expand(text: str, env: dict) -> str:
    """Kubernetes' $(VAR) in command and args: the container's variable, else left as is."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), text)


def pod_process(container: dict, volumes: dict, index: int) -> subprocess.Popen:
    env = clean_env()
    for entry in container.get("env", []):
        source = entry.get("valueFrom", {})
        if "value" in entry:
            env[entry["name"]] = expand(entry["value"], env)
        elif "job-completion-index" in source.get("fieldRef", {}).get("fieldPath", ""):
            env[entry["name"]] = str(index)
        else:
            assert source["secretKeyRef"]["optional"] is True  # no Secret here: the optional password
    env["JOB_COMPLETION_INDEX"] = str(index)  # as the Job controller sets it
    argv = [expand(word, env) for word in container["command"] + container.get("args", [])]
    for mount in container["volumeMounts"]:
        argv = [word.replace(mount["mountPath"], volumes[mount["name"]]) for word in argv]
    assert argv[0] == "harness"
    process = subprocess.Popen([sys.executable, "-m", "harness", *argv[1:]], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    _STARTED.append(process)
    return process


def test_the_indexed_job_runs_as_its_shards(redis_server, tmp_path):
    config_dir, results_dir = tmp_path / "config", tmp_path / "results"
    config_dir.mkdir()
    results_dir.mkdir()
    (config_dir / "run.ini").write_text(INI)
    job = render({"IMAGE": "redis-harness:test", "RUN_ID": "k8s-test", "SHARDS": str(SHARDS),
                  "START_AT": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 8)),
                  "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}", "RESULTS_CLAIM": "harness-results"})
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == SHARDS
    pod = spec["template"]["spec"]
    volumes = {"config": str(config_dir), "results": str(results_dir)}
    assert {volume["name"] for volume in pod["volumes"]} == set(volumes)
    admin = client_for(redis_server)
    before = commandstats(admin)
    pods = [pod_process(pod["containers"][0], volumes, index) for index in range(SHARDS)]
    for process in pods:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    counts = []
    for index in range(SHARDS):
        document = json.loads((results_dir / f"k8s-test-shard-{index}.json").read_text())
        # A shard's figures are a share: its thresholds wait for the merged result.
        assert document["configuration"]["thresholds"] == "ops_per_sec > 1000000000"
        result = document["harness"]
        assert result["exit"]["status"] == 0 and not result.get("thresholds")
        assert result["run"]["shard"] == f"{index}/{SHARDS}" and result["run"]["run_id"] == "k8s-test"
        counts.append(result["totals"]["count"])
    assert counts == [20001, 20000]
    after = commandstats(admin)
    assert sum(after.get(name, 0) - before.get(name, 0) for name in ("SET", "GET")) == 40001
