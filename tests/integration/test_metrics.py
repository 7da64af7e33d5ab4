"""Metrics and results through real protocols: Prometheus /metrics, a real Prometheus
server, an OTLP/HTTP receiver built on opentelemetry-proto, and the result file's HDR
histograms decoded with the hdrhistogram package."""

import contextlib
import http.server
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from hdrh.histogram import HdrHistogram
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from harness.embedded import free_port
from tests.conftest import commandstats, REPO_ROOT, client_for, clean_env, harness_command, run_harness

HOUSEKEEPING = {"HELLO", "PING", "INFO", "SCAN", "UNLINK", "CLIENT|SETNAME", "CLIENT|SETINFO"}



def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_result_file_equals_commandstats_and_prometheus(redis_server, tmp_path):
    client = client_for(redis_server)
    before = commandstats(client)
    port = free_port()
    output = tmp_path / "result.json"
    process = subprocess.Popen(
        harness_command("run", "--port", str(redis_server.port), "--workload", "basic_rw", "--requests", "30000",
                        "--duration", "0", "--client-instances", "2", "--prometheus-port", str(port),
                        "--metrics-linger", "10", "--output", str(output)),
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    for line in process.stdout:  # the summary is printed before /metrics lingers
        if line.startswith("[total"):
            break
    samples = scrape(port)
    process.terminate()
    process.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while not output.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    result = json.loads(output.read_text())
    after = commandstats(client)
    commands = result["harness"]["commands"]
    assert sum(block["count"] for block in commands.values()) == 30000
    for name, block in commands.items():
        assert block["count"] == after[name] - before.get(name, 0)
        assert samples[("harness_operations_total", (("command", name), ("status", "ok")))] == block["count"]
        assert samples[("harness_operation_duration_seconds_count", (("command", name),))] == block["count"]
        assert result["ALL STATS"][name]["Count"] == block["count"]
    run_info = [key for key in samples if key[0] == "harness_run_info"]
    assert run_info and dict(run_info[0][1])["workload"] == "basic_rw"


@contextlib.contextmanager
def real_prometheus(tmp_path, *ports):
    """A real Prometheus scraping /metrics on these local ports every second; yields
    its API's base URL once it is ready, and stops it at the end."""
    config = tmp_path / "prometheus.yml"
    targets = ", ".join(f"'127.0.0.1:{port}'" for port in ports)
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: harness\n    static_configs:\n      - targets: [{targets}]\n"
    )
    listen = free_port()
    prometheus = subprocess.Popen(
        [shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{listen}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        api = f"http://127.0.0.1:{listen}"
        wait_until(lambda: urllib.request.urlopen(f"{api}/-/ready", timeout=1).status == 200, 30)
        # Prometheus hands new targets to its scrapers up to 5 s after it is ready; a
        # short run started before that would be over before its first scrape.
        wait_until(lambda: scraping(api, len(ports)), 30)
        yield api
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)


def scraping(api, count):
    """Whether Prometheus has tried every one of its `count` targets at least once."""
    with urllib.request.urlopen(f"{api}/api/v1/targets", timeout=5) as response:
        targets = json.load(response)["data"]["activeTargets"]
    return len(targets) == count and all(target["health"] != "unknown" for target in targets)


def test_a_real_prometheus_scrapes_the_run(redis_server, tmp_path):
    harness_port = free_port()
    with real_prometheus(tmp_path, harness_port) as api:
        harness = subprocess.Popen(
            harness_command("run", "--port", str(redis_server.port), "--duration", "15", "--rate", "3000",
                            "--prometheus-port", str(harness_port), "--metrics-linger", "5"),
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT,
        )
        query = urllib.parse.urlencode({"query": "sum(rate(harness_operations_total[10s]))"})

        def positive_rate():
            with urllib.request.urlopen(f"{api}/api/v1/query?{query}", timeout=5) as response:
                body = json.load(response)
            values = body["data"]["result"]
            return bool(values) and float(values[0]["value"][1]) > 0

        time.sleep(8)
        wait_until(positive_rate, 15)
        assert harness.wait(timeout=60) == 0


def wait_until(check, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


class OtlpReceiver:
    """An OTLP/HTTP receiver: decodes what the harness posts with opentelemetry-proto."""

    def __init__(self):
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.traces: list[ExportTraceServiceRequest] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/metrics":
                    receiver.metrics.append(ExportMetricsServiceRequest.FromString(body))
                elif self.path == "/v1/traces":
                    receiver.traces.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def attributes(items):
    return {item.key: getattr(item.value, item.value.WhichOneof("value")) for item in items}


def test_otlp_metrics_and_spans(redis_server, tmp_path):
    receiver = OtlpReceiver()
    output = tmp_path / "result.json"
    try:
        done = run_harness("run", "--port", str(redis_server.port), "--requests", "5000", "--duration", "0",
                           "--stats-interval", "0.5", "--otlp-endpoint", receiver.endpoint,
                           "--trace-sample-ratio", "1.0", "--output", str(output))
        assert done.returncode == 0, done.stderr
    finally:
        receiver.close()
    result = json.loads(output.read_text())
    last = receiver.metrics[-1]
    resource = attributes(last.resource_metrics[0].resource.attributes)
    assert resource["service.name"] == "redis-harness"
    assert resource["service.instance.id"] == result["harness"]["run"]["run_id"]
    metric = last.resource_metrics[0].scope_metrics[0].metrics[0]
    assert metric.name == "db.client.operation.duration" and metric.unit == "s"
    counts = {}
    for point in metric.histogram.data_points:
        labels = attributes(point.attributes)
        assert labels["db.system.name"] == "redis" and labels["server.port"] == redis_server.port
        assert labels["server.address"] == "localhost"
        assert "error.type" not in labels
        assert list(point.explicit_bounds)[0] == 0.00005 and sum(point.bucket_counts) == point.count
        counts[labels["db.operation.name"]] = point.count
    assert counts == {name: block["count"] for name, block in result["harness"]["commands"].items()}
    spans = [span for request in receiver.traces for rs in request.resource_spans
             for ss in rs.scope_spans for span in ss.spans]
    assert spans, "no spans received"
    span = spans[0]
    assert span.kind == span.SPAN_KIND_CLIENT and span.name in ("GET", "SET")
    assert attributes(span.attributes)["db.operation.name"] == span.name
    assert span.end_time_unix_nano > span.start_time_unix_nano


def test_result_file_layout_and_histograms_decode(redis_server, tmp_path):
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "3", "--stats-interval", "1",
                       "--output", str(output))
    assert done.returncode == 0, done.stderr
    document = json.loads(output.read_text())
    assert list(document) == ["configuration", "run information", "ALL STATS", "harness"]
    stats = document["ALL STATS"]
    assert set(stats) == {"Runtime", "GET", "SET", "Totals"}
    assert stats["Runtime"]["Time unit"] == "MILLISECONDS"
    for name in ("GET", "SET", "Totals"):
        block = stats[name]
        for key in ("Count", "Ops/sec", "Average Latency", "Min Latency", "Max Latency", "KB/sec"):
            assert key in block
        percentiles = block["Percentile Latencies"]
        decoded = HdrHistogram.decode(percentiles["Histogram log format"]["Compressed Histogram"])
        assert decoded.get_total_count() == block["Count"]
        assert decoded.get_value_at_percentile(99) / 1000 == percentiles["p99.000"]
        serie = block["Time-Serie"]
        assert len(serie) >= 3 and sum(entry["Count"] for entry in serie.values()) == block["Count"]
    assert stats["GET"]["KB/sec"] > 0
    harness = document["harness"]
    assert harness["resources"]["ops_per_harness_cpu_second"] > 0
    assert any(sample["server"] for sample in harness["samples"])


def test_secrets_are_masked_in_the_result_file(redis_server_factory, tmp_path):
    server = redis_server_factory("--requirepass", "sekret-pw")
    output = tmp_path / "result.json"
    done = run_harness("run", "--port", str(server.port), "--duration", "1", "--output", str(output),
                       env=clean_env(HARNESS_PASSWORD="sekret-pw"))
    assert done.returncode == 0, done.stderr
    text = output.read_text()
    assert "sekret-pw" not in text and "sekret-pw" not in done.stdout + done.stderr
    assert json.loads(text)["configuration"]["password"] == "***"


def test_live_view_plain_lines(redis_server):
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "2.5", "--stats-interval", "1")
    lines = [line for line in done.stdout.splitlines() if line.startswith("[ ")]
    assert len(lines) >= 2
    assert all("p99" in line and "ops/s" in line and "server: cpu" in line and "client0" in line for line in lines)
    assert "operations per harness CPU-second" in done.stdout


def test_otlp_over_grpc(redis_server, tmp_path):
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

    received = []

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            received.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    output = tmp_path / "result.json"
    try:
        done = run_harness("run", "--port", str(redis_server.port), "--requests", "3000", "--duration", "0",
                           "--otlp-endpoint", f"http://127.0.0.1:{port}", "--otlp-protocol", "grpc",
                           "--output", str(output))
        assert done.returncode == 0, done.stderr
    finally:
        server.stop(0)
    points = received[-1].resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points
    counts = {attributes(point.attributes)["db.operation.name"]: point.count for point in points}
    result = json.loads(output.read_text())["harness"]["commands"]
    assert counts == {name: block["count"] for name, block in result.items()}
