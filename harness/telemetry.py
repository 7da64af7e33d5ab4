"""OpenTelemetry over OTLP, from the reporter process only (the SDK is not fork-safe).

Metrics: the harness already holds exact, merged latency histograms, so instead of
replaying every operation through the SDK's instruments (one call per operation) it
builds the SDK's own MetricsData from them and hands it to the official OTLP exporter
every interval: a cumulative `db.client.operation.duration` histogram in seconds, with
bucket bounds that fit Redis, following the database semantic conventions
(db.system.name, db.operation.name, server.address, server.port, error.type).

Traces: with trace_sample_ratio > 0 the worker threads keep a sample of batches
(command, start, end, error); each becomes a CLIENT span with the same attributes.

Usage (reporter): t = Telemetry.create(config, run_id, endpoint); t.export(stats); t.close()
"""

from __future__ import annotations

import bisect
import logging
import time

from harness.histogram import value_of
from harness.metrics import DURATION_BUCKETS
from harness.stats import CommandStats

log = logging.getLogger("harness")

METRIC_NAME = "db.client.operation.duration"


class Telemetry:
    def __init__(self, exporter, span_exporter, resource, base_attributes: dict, start_ns: int):
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

    @classmethod
    def create(cls, config, run_id: str, host: str, port: int | None) -> "Telemetry":
        from opentelemetry.sdk.resources import Resource

        endpoint = config.otlp_endpoint.rstrip("/")
        if config.otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            metric_exporter = OTLPMetricExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
            span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            metric_exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")
            span_exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
        resource = Resource.create({"service.name": "redis-harness", "service.instance.id": run_id})
        attributes = {"db.system.name": "redis", "server.address": host}
        if port is not None:
            attributes["server.port"] = port
        return cls(metric_exporter, span_exporter if config.trace_sample_ratio > 0 else None,
                   resource, attributes, time.time_ns())

    def export(self, totals: CommandStats) -> None:
        """Send the cumulative histograms; failures are logged, never fatal."""
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
        data = MetricsData(resource_metrics=[ResourceMetrics(
            resource=self.resource,
            scope_metrics=[ScopeMetrics(scope=self.scope, metrics=[metric], schema_url="")],
            schema_url="",
        )])
        try:
            result = self.exporter.export(data)
        except Exception as exc:  # noqa: BLE001 - telemetry must not end a run
            log.warning("OTLP metrics export failed: %s", exc)
            return
        if getattr(result, "name", "SUCCESS") != "SUCCESS":
            log.warning("OTLP metrics export to %s failed", self.exporter._endpoint)

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

    def close(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        self.exporter.shutdown()
