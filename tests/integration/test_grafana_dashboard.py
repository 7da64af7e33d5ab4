"""The Grafana dashboard (grafana/dashboards/redis-harness.json) against a real
Prometheus: two short harness runs are scraped every second, a custom run over 100
keys whose INCRs meet SET's random values (so there are errors, of type ERR) and a
pub_sub run. Every PromQL expression of the dashboard, its template variables filled in as Grafana
fills them, must return a non-empty result of finite numbers for the run it shows, and
may only name metrics the harness serves on /metrics."""

import json
import math
import re
import time
import urllib.parse
import urllib.request

from harness.embedded import free_port
from tests.conftest import start_harness
from tests.unit.test_dashboard_json import DASHBOARD, expressions, fill, variable_queries
from tests.integration.test_metrics import real_prometheus, scrape, wait_until

# Each run loads for LOAD seconds; $__rate_interval and $__interval become WINDOW,
# which holds the whole load when evaluated at the moment the run's result appeared.
LOAD = "4"
WINDOW = "10s"
# Metrics only one of the two runs feeds; every other expression must answer for both.
FED_BY = {"harness_pubsub_messages_total": "pub_sub", "harness_errors_total": "custom"}
WORKLOADS = {"custom": ("--commands", "3 SET {key} {value}; 1 INCR {key}", "--keyspace", "100"),
             "pub_sub": ("--subscribers", "1")}


def query(api, path, **params):
    with urllib.request.urlopen(f"{api}{path}?{urllib.parse.urlencode(params, doseq=True)}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def test_every_dashboard_expression_answers_from_a_real_prometheus(redis_server, tmp_path):
    dashboard = json.loads(DASHBOARD.read_text())
    ports = {workload: free_port() for workload in WORKLOADS}
    outputs = {workload: tmp_path / f"{workload}.json" for workload in ports}
    with real_prometheus(tmp_path, *ports.values()) as api:
        for workload, port in ports.items():
            start_harness("run", "--port", str(redis_server.port), "--workload", workload, *WORKLOADS[workload],
                          "--duration", LOAD, "--rate", "1000", "--client-instances", "1",
                          "--prometheus-port", str(port), "--metrics-linger", "10",
                          "--output", str(outputs[workload]))
        ended = {}  # when each run's result file appeared: its load is over, /metrics lingers

        def both_ended():
            for workload, output in outputs.items():
                if workload not in ended and output.exists():
                    ended[workload] = time.time()
            return len(ended) == len(outputs)

        wait_until(both_ended, 60)
        run_ids = {workload: json.loads(output.read_text())["harness"]["run"]["run_id"]
                   for workload, output in outputs.items()}
        exported = {name for port in ports.values() for name, _ in scrape(port)}

        def scraped_since_the_end(workload):
            found = query(api, "/api/v1/query", query=f'timestamp(harness_run_info{{run_id="{run_ids[workload]}"}})')
            return bool(found["result"]) and float(found["result"][0]["value"][1]) > ended[workload]

        wait_until(lambda: all(scraped_since_the_end(workload) for workload in ports), 15)

        for metric, label in variable_queries(dashboard):
            # Grafana's Prometheus data source sends label_values(metric, label) here.
            values = query(api, f"/api/v1/label/{label}/values", **{"match[]": metric})
            assert set(run_ids.values()) <= set(values), (metric, label, values)

        checked = 0
        for title, expr in expressions(dashboard):
            names = set(re.findall(r"\bharness_\w+", expr))
            assert names <= exported, f"{title!r} names metrics the harness does not serve: {names - exported}"
            fed = {FED_BY[name] for name in names if name in FED_BY}
            for workload in sorted(fed or ports):
                filled = fill(expr, run_id=run_ids[workload], window=WINDOW)
                result = query(api, "/api/v1/query", query=filled, time=ended[workload])["result"]
                assert result, f"{title!r} returned nothing for the {workload} run: {filled}"
                assert all(math.isfinite(float(series["value"][1])) for series in result), (title, filled, result)
                checked += 1
        assert checked >= 10  # every panel of the dashboard, not a loop over nothing
