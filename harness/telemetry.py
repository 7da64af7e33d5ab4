"""OpenTelemetry over OTLP, from the reporter process only (the SDK is not fork-safe).

Metrics: the harness already holds exact, merged latency histograms, so instead of
replaying every operation through the SDK's instruments (one call per operation) it
builds the SDK's own MetricsData from them and hands it to the official OTLP exporter
every interval: a cumulative `db.client.operation.duration` histogram in seconds, with
bucket bounds that fit Redis, following the database semantic conventions
(db.system.name, db.operation.name, server.address, server.port, error.type).

Traces: with trace_sample_ratio > 0 the worker threads keep a sample of batches
(command, start, end, error); each becomes a CLIENT span with the same attributes.

Exports run on a thread of their own: an unreachable collector (the exporter retries
for up to EXPORT_TIMEOUT) never holds up the reporter's loop or its result file. A
failed export is one warning with the reason (masked: the endpoint may carry
credentials), a recovery one info line; close() waits at most CLOSE_WAIT for the last.

Usage (reporter): t = Telemetry.create(config, run_id, endpoint); t.export(stats); t.close()
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time

from harness.histogram import value_of
from harness.metrics import DURATION_BUCKETS
from harness.redact import mask_text, mask_url, strip_credentials
from harness.stats import CommandStats

log = logging.getLogger("harness")

METRIC_NAME = "db.client.operation.duration"
EXPORT_TIMEOUT = 5.0  # seconds the exporter may spend on one export, retries included
CLOSE_WAIT = 5.0  # seconds close() waits for the last export and the span flush


_TRANSIENT = re.compile(r"Transient error (.*) encountered while exporting", re.DOTALL)


class _Reasons(logging.Handler):
    """Keeps the OpenTelemetry SDK's own log lines (why an export failed) for our one
    warning, instead of letting them reach stderr unmasked through logging's last resort."""

    def __init__(self, secret: str):
        super().__init__(logging.DEBUG)
        self.secret = secret
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = mask_text(record.getMessage())
        if self.secret:
            text = text.replace(self.secret, "***")
        # "Transient error X encountered while exporting metrics batch, retrying in 1s.": keep X
        transient = _TRANSIENT.match(text)
        self.lines.append(" ".join((transient.group(1) if transient else text).split())[:300])

    def take(self) -> str:
        lines, self.lines = self.lines, []
        return lines[0] if lines else "the exporter gave no reason"


class Telemetry:
    def __init__(self, exporter, span_exporter, resource, base_attributes: dict, start_ns: int,
                 shown_endpoint: str = "", secret: str = ""):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.exporter = exporter
        self.resource = resource
        self.scope = InstrumentationScope("redis-harness")
        self.attributes = base_attributes
        self.start_ns = start_ns
        # monotonic -> wall clock, for span times recorded with time.monotonic()
        self.clock_offset_ns = time.time_ns() - time.monotonic_ns()
        self.tracer_provider = None
        self.tracer = None
        if span_exporter is not None:
            self.tracer_provider = TracerProvider(resource=resource)
            self.tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
            self.tracer = self.tracer_provider.get_tracer("redis-harness")
        self.shown_endpoint = shown_endpoint
        self.reasons = _Reasons(secret)
        sdk_log = logging.getLogger("opentelemetry")
        sdk_log.addHandler(self.reasons)
        sdk_log.propagate = False
        self.failing = False
        self._pending = None
        self._closing = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="otlp-export", daemon=True)
        self._thread.start()

    @classmethod
    def create(cls, config, run_id: str, host: str, port: int | None) -> "Telemetry":
        from opentelemetry.sdk.resources import Resource

        endpoint = config.otlp_endpoint.rstrip("/")
        timeout = EXPORT_TIMEOUT
        if config.otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            insecure = endpoint.startswith("http://")
            metric_exporter = OTLPMetricExporter(endpoint=endpoint, insecure=insecure, timeout=timeout)
            span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=timeout)
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            metric_exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=timeout)
            span_exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=timeout)
        resource = Resource.create({"service.name": "redis-harness", "service.instance.id": run_id})
        attributes = {"db.system.name": "redis", "server.address": host}
        if port is not None:
            attributes["server.port"] = port
        return cls(metric_exporter, span_exporter if config.trace_sample_ratio > 0 else None,
                   resource, attributes, time.time_ns(), mask_url(endpoint), strip_credentials(endpoint)[2])

    def export(self, totals: CommandStats) -> None:
        """Hand the cumulative histograms to the export thread; never blocks. Only the
        newest figures wait: they are cumulative, so an older pending set is dropped."""
        data = self._metrics_data(totals)
        with self._wake:
            self._pending = data
            self._wake.notify()

    def _run(self) -> None:
        """The export thread: send whatever is pending until close() is called."""
        while True:
            with self._wake:
                while self._pending is None and not self._closing:
                    self._wake.wait()
                data, self._pending = self._pending, None
                closing = self._closing
            if data is not None:
                self._send(data)
            if closing and data is None:
                break
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        self.exporter.shutdown()

    def _send(self, data) -> None:
        self.reasons.take()
        try:
            ok = getattr(self.exporter.export(data), "name", "SUCCESS") == "SUCCESS"
            reason = "" if ok else self.reasons.take()
        except Exception as exc:  # noqa: BLE001 - telemetry must not end a run
            ok, reason = False, mask_text(str(exc))
        if not ok and not self.failing:
            log.warning("OTLP export to %s failed: %s; the run goes on and its result file is unaffected",
                        self.shown_endpoint, reason)
        elif ok and self.failing:
            log.info("OTLP export to %s works again", self.shown_endpoint)
        self.failing = not ok

    def _metrics_data(self, totals: CommandStats):
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality, Histogram, Metric, MetricsData, ResourceMetrics, ScopeMetrics,
        )

        now = time.time_ns()
        points = [self._point(command, "", counts, now) for command, counts in totals.latency.items()]
        points += [self._point(command, kind, counts, now)
                   for (command, kind), counts in totals.error_latency.items()]
        metric = Metric(
            name=METRIC_NAME, description="Duration of database client operations.", unit="s",
            data=Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE),
        )
        return MetricsData(resource_metrics=[ResourceMetrics(
            resource=self.resource,
            scope_metrics=[ScopeMetrics(scope=self.scope, metrics=[metric], schema_url="")],
            schema_url="",
        )])

    def _point(self, command: str, error: str, counts: dict, now: int):
        from opentelemetry.sdk.metrics.export import HistogramDataPoint

        buckets = [0] * (len(DURATION_BUCKETS) + 1)
        total = count = 0
        low, high = float("inf"), 0.0
        for index, n in counts.items():
            seconds = value_of(index) / 1_000_000
            buckets[bisect.bisect_left(DURATION_BUCKETS, seconds)] += n
            total += seconds * n
            count += n
            low, high = min(low, seconds), max(high, seconds)
        attributes = dict(self.attributes, **{"db.operation.name": command})
        if error:
            attributes["error.type"] = error
        return HistogramDataPoint(
            attributes=attributes, start_time_unix_nano=self.start_ns, time_unix_nano=now,
            count=count, sum=total, bucket_counts=buckets, explicit_bounds=list(DURATION_BUCKETS),
            min=low if count else 0.0, max=high,
        )

    def spans(self, samples: list) -> None:
        if self.tracer is None:
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        for command, start, end, error in samples:
            attributes = dict(self.attributes, **{"db.operation.name": command})
            if error:
                attributes["error.type"] = error
            span = self.tracer.start_span(
                command, kind=SpanKind.CLIENT, attributes=attributes,
                start_time=int(start * 1e9) + self.clock_offset_ns,
            )
            if error:
                span.set_status(Status(StatusCode.ERROR, error))
            span.end(end_time=int(end * 1e9) + self.clock_offset_ns)

    def close(self, wait: float = CLOSE_WAIT) -> None:
        """Let the export thread send the last figures and flush spans, for at most
        `wait` seconds; past that it is left behind (a daemon thread)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(wait)
        if self._thread.is_alive():
            log.warning("the last OTLP export to %s did not finish within %g s; not waiting for it",
                        self.shown_endpoint, wait)
