"""Standalone-mode sinks, in-process on one core, as ratios against the upb
parse+serialise floor of the same request measured in the same run.

Rows: OTLP/JSON encode and decode of a 512-span request (json_format plus the
OTLP/JSON fix-ups); the file exporter's export() (encode in a worker thread,
one append); and the prometheus exporter's export() of 512 data points
(translation and the in-memory update), plus one scrape of what it holds.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bench.common import Rate, best_of, measure, parse_serialise_floor, ratio, span_request, write_results
from processors.api import CreateSettings, Payload, Signal
from processors.standalone import file_exporter, otlp_json, prometheus_exporter
from processors.telemetry import SelfTelemetry

SPANS = 512
POINTS = 512
SECONDS = 1.0


def metrics_request(n_points: int = POINTS) -> ExportMetricsServiceRequest:
    """A histogram and a counter per route and status: HTTP-server-like metrics."""
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for key, value in (("service.name", "checkout"), ("service.instance.id", "pod-1"), ("host.name", "node-7")):
        rm.resource.attributes.add(key=key).value.string_value = value
    sm = rm.scope_metrics.add()
    sm.scope.name = "bench"
    counter = sm.metrics.add(name="http.server.requests", unit="{request}").sum
    counter.is_monotonic, counter.aggregation_temporality = True, 2
    histogram = sm.metrics.add(name="http.server.request.duration", unit="s").histogram
    histogram.aggregation_temporality = 2
    for i in range(n_points // 2):
        attrs = {"http.route": f"/api/{i % 64}", "http.response.status_code": 200 + i // 64}
        point = counter.data_points.add(as_int=i, time_unix_nano=1_700_000_000_000_000_000)
        hist = histogram.data_points.add(count=6, sum=1.5, explicit_bounds=[0.005, 0.1, 1.0],
                                         bucket_counts=[1, 2, 3, 0], time_unix_nano=1_700_000_000_000_000_000)
        for target in (point, hist):
            for key, value in attrs.items():
                kv = target.attributes.add(key=key)
                if isinstance(value, int):
                    kv.value.int_value = value
                else:
                    kv.value.string_value = value
    return req


def _settings(component_id: str) -> CreateSettings:
    return CreateSettings(component_id=component_id, telemetry=SelfTelemetry())


def main() -> dict[str, Any]:
    traces = span_request(SPANS)
    raw = traces.SerializeToString()
    line = otlp_json.encode(Signal.TRACES, traces)
    floor = best_of([parse_serialise_floor(raw, seconds=SECONDS) for _ in range(2)])
    encode = best_of([measure("otlp_json.encode", lambda: otlp_json.encode(Signal.TRACES, traces),
                              items_per_call=SPANS, seconds=SECONDS) for _ in range(2)])
    decode = best_of([measure("otlp_json.decode", lambda: otlp_json.decode(Signal.TRACES, line),
                              items_per_call=SPANS, seconds=SECONDS) for _ in range(2)])

    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        config = file_exporter.FileExporterConfig(path=tmp)
        files = file_exporter.FACTORY.create(config, _settings("file"))
        loop.run_until_complete(files.start())
        file_row = measure("file exporter export()", lambda: loop.run_until_complete(
            files.export(Payload(Signal.TRACES, raw=raw))), items_per_call=SPANS, seconds=SECONDS)
        loop.run_until_complete(files.shutdown())

    metrics = metrics_request()
    metrics_raw = metrics.SerializeToString()
    metrics_floor = measure("floor: upb parse+serialise (metrics)", lambda: ExportMetricsServiceRequest.FromString(
        metrics_raw).SerializeToString(), items_per_call=POINTS, seconds=SECONDS)
    prom = prometheus_exporter.FACTORY.create(prometheus_exporter.PrometheusExporterConfig(), _settings("prometheus"))
    prom_row = measure("prometheus exporter export()", lambda: loop.run_until_complete(
        prom.export(Payload(Signal.METRICS, raw=metrics_raw))), items_per_call=POINTS, seconds=SECONDS)
    from prometheus_client import generate_latest

    scrape = measure("prometheus scrape (render)", lambda: generate_latest(prom.registry), items_per_call=POINTS,
                     seconds=SECONDS)
    loop.close()

    rows: list[tuple[Rate, Rate]] = [(floor, floor), (encode, floor), (decode, floor), (file_row, floor),
                                     (metrics_floor, metrics_floor), (prom_row, metrics_floor),
                                     (scrape, metrics_floor)]
    print(f"  {'row':42} {'items/s':>12} {'p50 ms':>8} {'x floor':>8}")
    for rate, base in rows:
        print(f"  {rate.name:42} {rate.items_per_s:12,.0f} {rate.percentile_ms(0.5):8.2f} "
              f"{ratio(rate.items_per_s, base.items_per_s):8.3f}")
    result = {
        "rows": [r for r, _ in rows],
        "ratios": {r.name: ratio(r.items_per_s, b.items_per_s) for r, b in rows},
        "json_bytes_per_proto_byte": ratio(len(line), len(raw)),
    }
    write_results("sinks", result)
    return result


if __name__ == "__main__":
    main()
