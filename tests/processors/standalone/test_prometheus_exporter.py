"""The ``prometheus`` exporter: OTLP metrics scraped as Prometheus series, by the
rules of the Collector's prometheus exporter (processors/standalone/prometheus_exporter.py).

Every test scrapes the real HTTP endpoint and parses the text with
prometheus_client's parser; the last ones check the exposition with
``promtool check metrics`` and against bin/otelcol's own prometheus exporter.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator

import aiohttp
import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.parser import text_string_to_metric_families

from processors.api import CreateSettings, Payload, Signal
from processors.config import ConfigError, validate_component
from processors.registry import Registry
from processors.standalone import prometheus_exporter as prom
from processors.standalone.prometheus_exporter import FACTORY, PrometheusExporter, PrometheusExporterConfig
from processors.telemetry import SelfTelemetry
from tests.support.otlp import any_value
from tests.support.procs import free_port, require_tool, running

DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000
SCOPE = {"otel_scope_name": "shop.metrics", "otel_scope_version": "1.0", "otel_scope_schema_url": ""}
JOB = {"job": "shop/checkout", "instance": "pod-1"}


# --- building requests ---------------------------------------------------------------------


class Request:
    """An ExportMetricsServiceRequest with one resource and one scope, built metric by metric."""

    def __init__(self, resource: dict | None = None) -> None:
        self.message = Signal.METRICS.request_type()
        rm = self.message.resource_metrics.add()
        attrs = {"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-1",
                 "host.name": "node-7"} if resource is None else resource
        for key, value in attrs.items():
            rm.resource.attributes.add(key=key).value.CopyFrom(any_value(value))
        self.scope = rm.scope_metrics.add()
        self.scope.scope.name, self.scope.scope.version = "shop.metrics", "1.0"
        self.metrics = self.scope.metrics

    def gauge(self, name: str, value: float, *, unit: str = "", attrs: dict | None = None, t: int = T0, **kw):
        point = self.metrics.add(name=name, unit=unit, **kw).gauge.data_points.add(time_unix_nano=t)
        set_value(point, value, attrs)
        return point

    def sum(self, name: str, value: float, *, monotonic: bool = True, temporality=CUMULATIVE, unit: str = "",
            attrs: dict | None = None, start: int = T0 - SEC, t: int = T0):
        body = self.metrics.add(name=name, unit=unit).sum
        body.is_monotonic, body.aggregation_temporality = monotonic, temporality
        point = body.data_points.add(start_time_unix_nano=start, time_unix_nano=t)
        set_value(point, value, attrs)
        return point

    def histogram(self, name: str, bounds: list[float], counts: list[int], total: float, *, unit: str = "",
                  temporality=CUMULATIVE, attrs: dict | None = None, start: int = T0 - SEC, t: int = T0):
        body = self.metrics.add(name=name, unit=unit).histogram
        body.aggregation_temporality = temporality
        point = body.data_points.add(start_time_unix_nano=start, time_unix_nano=t, count=sum(counts), sum=total,
                                     explicit_bounds=bounds, bucket_counts=counts)
        set_value(point, None, attrs)
        return point

    def payload(self) -> Payload:
        return Payload(Signal.METRICS, raw=self.message.SerializeToString())


def set_value(point, value, attrs) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        point.as_int = value
    elif value is not None:
        point.as_double = value
    for key, v in (attrs or {}).items():
        point.attributes.add(key=key).value.CopyFrom(any_value(v))


# --- a running exporter -------------------------------------------------------------------


class Running:
    def __init__(self, exporter: PrometheusExporter, telemetry: SelfTelemetry) -> None:
        self.exporter = exporter
        self.telemetry = telemetry
        self.url = f"http://127.0.0.1:{exporter.port}/metrics"

    async def export(self, request: Request) -> None:
        await self.exporter.export(request.payload())

    async def text(self) -> str:
        async with aiohttp.ClientSession() as session, session.get(self.url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return await response.text()

    async def scrape(self) -> dict[str, dict]:
        """{family: {"type", "help", "samples": {(sample name, frozenset(labels)): value}}}"""
        return parse(await self.text())

    def dropped(self, reason: str) -> float:
        return self.telemetry.value("otelproc_dropped_items_total", signal="metrics", component="prometheus",
                                    reason=reason)


def parse(text: str) -> dict[str, dict]:
    out = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = {"type": family.type, "help": family.documentation,
                     "samples": {(s.name, frozenset(s.labels.items())): s.value for s in family.samples}}
    return out


def labels(**extra) -> frozenset:
    return frozenset({**SCOPE, **JOB, **extra}.items())


@pytest.fixture
async def serve() -> AsyncIterator:
    started: list[PrometheusExporter] = []

    async def start(**raw) -> Running:
        raw.setdefault("endpoint", f"127.0.0.1:{free_port()}")
        config = validate_component(PrometheusExporterConfig, raw, "exporters.prometheus")
        telemetry = SelfTelemetry()
        exporter = FACTORY.create(config, CreateSettings(component_id="prometheus", telemetry=telemetry))
        await exporter.start()
        started.append(exporter)
        return Running(exporter, telemetry)

    yield start
    for exporter in started:
        await exporter.shutdown()


# --- config --------------------------------------------------------------------------------


def test_the_entry_point_resolves_to_this_metrics_only_factory():
    assert Registry().get("exporters", "prometheus") is FACTORY
    assert FACTORY.signals == frozenset({Signal.METRICS})
    config = FACTORY.default_config()
    assert (config.endpoint, config.metric_expiration, config.namespace) == ("0.0.0.0:8889", 300.0, "")
    assert config.resource_to_telemetry_conversion.enabled is False


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("1.5s", 1.5), (90, 90)])
def test_metric_expiration_takes_go_durations(text, seconds):
    assert PrometheusExporterConfig(metric_expiration=text).metric_expiration == seconds


@pytest.mark.parametrize(("raw", "path", "problem"), [
    ({"metric_expiration": "5 minutes"}, "exporters.prometheus.metric_expiration", "is not a duration"),
    ({"metric_expiration": "0s"}, "exporters.prometheus.metric_expiration", "greater than 0"),
    ({"endpoint": "8889"}, "exporters.prometheus.endpoint", "is not host:port"),
    ({"namespace": "my-app"}, "exporters.prometheus.namespace", "is not a Prometheus name"),
    ({"const_labels": {"deploy env": "x"}}, "exporters.prometheus.const_labels", "is not a label name"),
    ({"const_labels": {"job": "x"}}, "exporters.prometheus.const_labels", "set by the exporter itself"),
    ({"resource_to_telemetry_conversion": {"enabled": "maybe"}},
     "exporters.prometheus.resource_to_telemetry_conversion.enabled", "valid boolean"),
    ({"send_timestamps": True}, "exporters.prometheus.send_timestamps", "unknown key"),
])
def test_bad_config_names_the_key(raw, path, problem):
    with pytest.raises(ConfigError) as err:
        validate_component(PrometheusExporterConfig, raw, "exporters.prometheus")
    assert err.value.path == path
    assert problem in err.value.problem


# --- naming rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "unit", "kind", "expected"), [
    ("http.server.duration", "ms", prom.HISTOGRAM, "http_server_duration_milliseconds"),
    ("http.requests", "1", prom.MONOTONIC_COUNTER, "http_requests_total"),
    ("cpu.utilization", "1", prom.GAUGE, "cpu_utilization_ratio"),
    ("ratio.sum", "1", prom.NON_MONOTONIC_COUNTER, "ratio_sum"),  # _ratio on gauges only
    ("latency_total", "s", prom.MONOTONIC_COUNTER, "latency_seconds_total"),
    ("mem", "By", prom.GAUGE, "mem_bytes"),
    ("net.io", "By/s", prom.GAUGE, "net_io_bytes_per_second"),
    ("queue.len", "{items}", prom.GAUGE, "queue_len"),
    ("pct", "%", prom.GAUGE, "pct_percent"),
    ("weird unit", "foo/bar baz", prom.GAUGE, "weird_unit_foo_per_bar_baz"),
    ("2fast", "s", prom.GAUGE, "_2fast_seconds"),
    ("already_seconds", "s", prom.GAUGE, "already_seconds"),
    ("a__b..c", "", prom.GAUGE, "a_b_c"),
    ("ns:metric", "", prom.GAUGE, "ns:metric"),
    ("___", "", prom.GAUGE, None),
    ("", "", prom.GAUGE, None),
])
def test_metric_names_follow_the_collectors_translator(name, unit, kind, expected):
    assert prom.metric_name(name, unit, kind) == expected


def test_the_namespace_prefixes_every_name():
    assert prom.metric_name("http.requests", "", prom.MONOTONIC_COUNTER, "shop") == "shop_http_requests_total"


@pytest.mark.parametrize(("key", "expected"), [
    ("http.method", "http_method"), ("http-status", "http_status"), ("1num", "key_1num"),
    ("_under", "_under"), ("a__b", "a__b"), ("héllo", "h_llo"), ("__reserved", None), ("...", None), ("", None),
])
def test_label_names_follow_the_collectors_translator(key, expected):
    assert prom.label_name(key) == expected


@pytest.mark.parametrize(("value", "text"), [
    (AnyValue(string_value="GET"), "GET"), (AnyValue(bool_value=True), "true"), (AnyValue(int_value=-3), "-3"),
    (AnyValue(double_value=1.5), "1.5"), (AnyValue(double_value=100.0), "100"), (AnyValue(double_value=1e-7), "1e-7"),
    (AnyValue(double_value=2e21), "2e+21"), (AnyValue(bytes_value=b"\x01\xff"), "Af8="), (AnyValue(), ""),
    (any_value([1, "a", 2.5, True]), '[1,"a",2.5,true]'),
])
def test_label_values_print_as_the_collector_prints_them(value, text):
    assert prom.value_text(value) == text


def test_map_label_values_are_json_with_sorted_keys():
    value = AnyValue()
    for key, v in (("z", AnyValue(int_value=1)), ("a", AnyValue(string_value="<&>"))):
        value.kvlist_value.values.add(key=key).value.CopyFrom(v)
    assert prom.value_text(value) == '{"a":"<&>","z":1}'


# --- exposition --------------------------------------------------------------------------------


async def test_gauges_counters_histograms_and_summaries_are_exposed(serve):
    running = await serve()
    req = Request()
    req.gauge("cpu.utilization", 0.25, unit="1", attrs={"cpu.id": 3}, description="CPU in use")
    req.sum("http.requests", 7, attrs={"http.method": "GET", "http.status_code": 200})
    req.sum("active.connections", -2, monotonic=False, unit="{conn}")
    req.histogram("http.server.duration", [5.0, 10.0], [1, 2, 3], 42.5, unit="ms", attrs={"route": "/a"})
    summary = req.metrics.add(name="rpc.latency", unit="s").summary.data_points.add(count=4, sum=1.5, time_unix_nano=T0)
    summary.quantile_values.add(quantile=0.5, value=0.2)
    summary.quantile_values.add(quantile=0.99, value=0.9)
    await running.export(req)

    got = await running.scrape()

    assert got["cpu_utilization_ratio"] == {"type": "gauge", "help": "CPU in use", "samples": {
        ("cpu_utilization_ratio", labels(cpu_id="3")): 0.25}}
    assert got["http_requests_total"]["type"] == "counter"
    assert got["http_requests_total"]["samples"] == {
        ("http_requests_total", labels(http_method="GET", http_status_code="200")): 7.0}
    assert got["active_connections"]["type"] == "gauge"
    assert got["active_connections"]["samples"] == {("active_connections", labels()): -2.0}
    assert got["http_server_duration_milliseconds"]["type"] == "histogram"
    assert got["http_server_duration_milliseconds"]["samples"] == {
        ("http_server_duration_milliseconds_bucket", labels(route="/a", le="5")): 1.0,
        ("http_server_duration_milliseconds_bucket", labels(route="/a", le="10")): 3.0,
        ("http_server_duration_milliseconds_bucket", labels(route="/a", le="+Inf")): 6.0,
        ("http_server_duration_milliseconds_sum", labels(route="/a")): 42.5,
        ("http_server_duration_milliseconds_count", labels(route="/a")): 6.0,
    }
    assert got["rpc_latency_seconds"]["type"] == "summary"
    assert got["rpc_latency_seconds"]["samples"] == {
        ("rpc_latency_seconds", labels(quantile="0.5")): 0.2,
        ("rpc_latency_seconds", labels(quantile="0.99")): 0.9,
        ("rpc_latency_seconds_sum", labels()): 1.5,
        ("rpc_latency_seconds_count", labels()): 4.0,
    }
    # target_info: the other resource attributes, once per job/instance.
    assert got["target_info"]["samples"] == {
        ("target_info", frozenset({"host_name": "node-7", **JOB}.items())): 1.0}


async def test_namespace_and_const_labels_apply_to_every_series_but_target_info(serve):
    running = await serve(namespace="shop", const_labels={"env": "prod"})
    req = Request()
    req.gauge("queue.depth", 3)
    await running.export(req)
    got = await running.scrape()
    assert got["shop_queue_depth"]["samples"] == {("shop_queue_depth", labels(env="prod")): 3.0}
    assert list(got["shop_target_info"]["samples"]) == [
        ("shop_target_info", frozenset({"host_name": "node-7", **JOB}.items()))]


async def test_without_service_attributes_there_is_no_job_instance_or_target_info(serve):
    running = await serve()
    req = Request(resource={"host.name": "node-7"})
    req.gauge("queue.depth", 3, attrs={"queue": "emails"})
    await running.export(req)
    got = await running.scrape()
    assert got["queue_depth"]["samples"] == {("queue_depth", frozenset({**SCOPE, "queue": "emails"}.items())): 3.0}
    assert "target_info" not in got


async def test_resource_to_telemetry_conversion_puts_resource_attributes_on_each_series(serve):
    running = await serve(resource_to_telemetry_conversion={"enabled": True})
    req = Request()
    req.gauge("queue.depth", 3, attrs={"host.name": "from-the-point", "queue": "emails"})
    await running.export(req)
    got = await running.scrape()
    assert got["queue_depth"]["samples"] == {("queue_depth", labels(
        queue="emails", host_name="node-7", service_name="checkout", service_namespace="shop",
        service_instance_id="pod-1")): 3.0}


async def test_scope_attributes_become_otel_scope_labels(serve):
    running = await serve()
    req = Request()
    req.scope.scope.attributes.add(key="library.language").value.string_value = "python"
    req.scope.scope.attributes.add(key="name").value.string_value = "ignored: reserved"
    req.scope.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    req.gauge("queue.depth", 1)
    await running.export(req)
    got = await running.scrape()
    ((_, got_labels),) = got["queue_depth"]["samples"]
    assert dict(got_labels) == {**JOB, "otel_scope_name": "shop.metrics", "otel_scope_version": "1.0",
                                "otel_scope_schema_url": "https://opentelemetry.io/schemas/1.26.0",
                                "otel_scope_library_language": "python"}


async def test_attributes_that_sanitise_alike_are_joined(serve):
    running = await serve()
    req = Request()
    req.gauge("queue.depth", 1, attrs={"a.b": "dot", "a_b": "underscore"})
    await running.export(req)
    got = await running.scrape()
    assert got["queue_depth"]["samples"] == {("queue_depth", labels(a_b="dot;underscore")): 1.0}


# --- values over time ------------------------------------------------------------------------------


async def test_the_newest_point_wins_and_an_older_one_is_counted_as_dropped(serve):
    running = await serve()
    for value, t in ((1.0, T0), (5.0, T0 + 2 * SEC), (3.0, T0 + SEC)):
        req = Request()
        req.gauge("temperature", value, unit="Cel", t=t)
        await running.export(req)
    got = await running.scrape()
    assert got["temperature_celsius"]["samples"] == {("temperature_celsius", labels()): 5.0}
    assert running.dropped(prom.OUT_OF_ORDER) == 1


async def test_delta_sums_are_accumulated_and_a_gap_restarts_them(serve):
    running = await serve()
    windows = [(T0, T0 + SEC, 3), (T0 + SEC, T0 + 2 * SEC, 4), (0, T0 + 3 * SEC, 1)]
    for start, end, value in windows:
        req = Request()
        req.sum("orders", value, temporality=DELTA, start=start, t=end)
        await running.export(req)
    assert (await running.scrape())["orders_total"]["samples"] == {("orders_total", labels()): 8.0}
    req = Request()
    req.sum("orders", 2, temporality=DELTA, start=T0 + 10 * SEC, t=T0 + 11 * SEC)  # after a gap: a restart
    await running.export(req)
    assert (await running.scrape())["orders_total"]["samples"] == {("orders_total", labels()): 2.0}


async def test_delta_histograms_are_accumulated_and_overlaps_dropped(serve):
    running = await serve()
    for start, end, counts, total in ((T0, T0 + SEC, [1, 0, 1], 20.0), (T0 + SEC, T0 + 2 * SEC, [0, 2, 0], 14.0)):
        req = Request()
        req.histogram("job.duration", [5.0, 10.0], counts, total, unit="s", temporality=DELTA, start=start, t=end)
        await running.export(req)
    overlap = Request()
    overlap.histogram("job.duration", [5.0, 10.0], [9, 9, 9], 99.0, unit="s", temporality=DELTA,
                      start=T0 + SEC, t=T0 + 3 * SEC)
    await running.export(overlap)
    samples = (await running.scrape())["job_duration_seconds"]["samples"]
    assert samples[("job_duration_seconds_bucket", labels(le="5"))] == 1.0
    assert samples[("job_duration_seconds_bucket", labels(le="10"))] == 3.0
    assert samples[("job_duration_seconds_bucket", labels(le="+Inf"))] == 4.0
    assert samples[("job_duration_seconds_sum", labels())] == 34.0
    assert running.dropped(prom.MISALIGNED_DELTA) == 1


async def test_no_recorded_value_removes_the_series(serve):
    running = await serve()
    req = Request()
    req.gauge("queue.depth", 3, attrs={"queue": "a"})
    req.gauge("queue.depth", 4, attrs={"queue": "b"})
    await running.export(req)
    gone = Request()
    gone.gauge("queue.depth", 0, attrs={"queue": "a"}, t=T0 + SEC).flags = 1
    await running.export(gone)
    assert (await running.scrape())["queue_depth"]["samples"] == {("queue_depth", labels(queue="b")): 4.0}


async def test_series_expire_after_metric_expiration(serve):
    running = await serve(metric_expiration="1m")
    old = Request()
    old.gauge("queue.depth", 3)
    await running.export(old)
    running.exporter.expire(now=time.monotonic() + 30)
    assert "queue_depth" in await running.scrape()
    for series in running.exporter.families["queue_depth"].series.values():
        series.updated -= 61  # as if last updated a minute and a second ago
    got = await running.scrape()
    assert "queue_depth" not in got and "target_info" not in got


# --- what Prometheus cannot take is counted, never silent -------------------------------------------


async def test_unsupported_data_is_dropped_with_a_reason(serve):
    running = await serve()
    req = Request()
    exp = req.metrics.add(name="latency", unit="s").exponential_histogram
    exp.aggregation_temporality = CUMULATIVE
    exp.data_points.add(count=3, time_unix_nano=T0).positive.bucket_counts.extend([1, 2])
    req.sum("net.change", 5, monotonic=False, temporality=DELTA)
    req.sum("no.temporality", 1, temporality=metrics_pb2.AGGREGATION_TEMPORALITY_UNSPECIFIED)
    req.gauge("...", 1)
    req.gauge("bad.label", 1, attrs={"__name__": "x"})
    req.gauge("job.clash", 1, attrs={"job": "mine"})
    req.histogram("le.clash", [1.0], [1, 0], 0.5, attrs={"le": "1"})
    req.gauge("kept", 1)
    await running.export(req)

    got = await running.scrape()
    assert set(got) == {"kept", "target_info"}
    for reason in (prom.EXPONENTIAL_HISTOGRAM, prom.DELTA_NON_MONOTONIC, prom.UNSPECIFIED_TEMPORALITY,
                   prom.INVALID_NAME, prom.INVALID_LABEL):
        assert running.dropped(reason) == 1, reason
    assert running.dropped(prom.LABEL_CONFLICT) == 2


async def test_a_name_already_used_by_another_type_is_dropped(serve):
    running = await serve()
    req = Request()
    req.gauge("jobs", 1, unit="{jobs}")
    req.histogram("jobs", [1.0], [0, 1], 2.0)
    await running.export(req)
    assert (await running.scrape())["jobs"]["type"] == "gauge"
    assert running.dropped(prom.TYPE_CONFLICT) == 1


async def test_start_fails_naming_an_endpoint_in_use(serve):
    first = await serve()
    taken = rf"exporters\.prometheus: cannot listen on 127\.0\.0\.1:{first.exporter.port}"
    with pytest.raises(RuntimeError, match=taken):
        await serve(endpoint=f"127.0.0.1:{first.exporter.port}")


async def test_promtool_accepts_the_exposition(serve, tmp_path):
    promtool = require_tool("promtool", "/usr/bin/promtool")
    running = await serve(namespace="shop", const_labels={"env": "prod"})
    req = Request()
    req.gauge("cpu.utilization", 0.25, unit="1", description="CPU in use")
    req.sum("http.requests", 7, attrs={"http.method": "GET"}, unit="{request}")
    req.histogram("http.server.duration", [0.005, 0.1, 1.0], [1, 2, 3, 0], 1.5, unit="s")
    req.sum("bytes.sent", 1e9, unit="By")
    for metric in req.metrics:
        metric.description = metric.description or f"{metric.name} in {metric.unit}"
    await running.export(req)
    text = await running.text()
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    # Exit 0: a valid exposition with no lint finding either (exit 1 is invalid, 3 lint only).
    assert result.returncode == 0, result.stdout + result.stderr


async def test_promtool_only_lints_a_missing_description(serve):
    promtool = require_tool("promtool", "/usr/bin/promtool")
    running = await serve()
    req = Request()
    req.sum("http.requests", 7)
    await running.export(req)
    result = subprocess.run([promtool, "check", "metrics"], input=await running.text(), capture_output=True,
                            text=True, timeout=30)
    assert (result.returncode, result.stderr) == (3, "http_requests_total no help text\n")


# --- against the Collector's own prometheus exporter ----------------------------------------------------


@pytest.fixture(scope="module")
def collector_prometheus(otelcol: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """bin/otelcol with an otlp receiver and its prometheus exporter: (gRPC endpoint, scrape URL)."""
    tmp = tmp_path_factory.mktemp("otelcol-prometheus")
    grpc_port, prom_port = free_port(), free_port()
    config = tmp / "config.yaml"
    config.write_text(f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:{grpc_port}}}}}}}
exporters:
  prometheus: {{endpoint: 127.0.0.1:{prom_port}, namespace: shop, const_labels: {{env: prod}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
""")
    with running([otelcol, f"--config={config}"], port=prom_port, log=tmp / "otelcol.log"):
        yield f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{prom_port}/metrics"


def parity_requests() -> list[Request]:
    """Two rounds of every kind the text format carries, with awkward names, units and labels."""
    rounds = []
    for i, t in enumerate((T0 + SEC, T0 + 2 * SEC)):
        req = Request(resource={"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-1",
                                "host.name": "node-7", "weird-key.x": 1.5, "1st": True})
        req.scope.scope.attributes.add(key="library.language").value.string_value = "python"
        attrs = {"http.method": "GET", "http-status": 200, "1num": "y", "_under": "x", "a__b": "z",
                 "ratio": 0.5, "list": [1, "a"], "empty": ""}
        req.gauge("cpu.utilization", 0.25 + i, unit="1", attrs=attrs, t=t, description="CPU in use")
        req.gauge("2fast", 7, unit="s", t=t)
        req.gauge("weird unit", 4, unit="foo/bar baz", t=t)
        req.gauge("net.io", 1e22, unit="By/s", t=t)
        req.sum("http.requests", 10 + i, attrs=attrs, t=t)
        req.sum("latency_total", 1.5, unit="s", t=t)
        req.sum("active", -2 - i, monotonic=False, unit="{conn}", t=t)
        req.sum("ratio.sum", 1, monotonic=False, unit="1", t=t)
        req.sum("orders", 3, temporality=DELTA, start=t - SEC, t=t)
        req.histogram("http.server.duration", [5.0, 10.0, 1e6], [1, 2, 3 + i, 0], 12.5, unit="ms", attrs=attrs, t=t)
        req.histogram("batch.size", [10.0, 100.0], [i, 1, 2], 50.0, unit="{items}", temporality=DELTA,
                      start=t - SEC, t=t)
        summary = req.metrics.add(name="rpc.latency", unit="s").summary.data_points.add(
            count=4 + i, sum=1.0, time_unix_nano=t)
        summary.quantile_values.add(quantile=0.5, value=0.2)
        summary.quantile_values.add(quantile=0.99, value=0.9 + i)
        rounds.append(req)
    return rounds


@pytest.mark.e2e
async def test_the_exposition_matches_the_collectors_prometheus_exporter(serve, collector_prometheus):
    grpc_endpoint, collector_url = collector_prometheus
    running = await serve(namespace="shop", const_labels={"env": "prod"})
    with grpc.insecure_channel(grpc_endpoint) as channel:
        stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        for req in parity_requests():
            stub.Export(req.message, timeout=10)
            await running.export(req)

    def fetch() -> str:
        with urllib.request.urlopen(collector_url, timeout=10) as response:
            return response.read().decode()

    theirs, ours = parse(await asyncio.to_thread(fetch)), await running.scrape()
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name]["type"] == theirs[name]["type"], name
        assert ours[name]["help"] == theirs[name]["help"], name
        assert set(ours[name]["samples"]) == set(theirs[name]["samples"]), name
        for key, value in theirs[name]["samples"].items():
            assert math.isclose(ours[name]["samples"][key], value), (name, key)


# --- end to end: standalone mode's endpoint against the Collector's, fed the same SDK metrics --------------

E2E_YAML = """
receivers:
  otlp:
    grpc: {endpoint: "${env:OTELPROC_RECEIVER_ENDPOINT}"}
exporters:
  otlp: {endpoint: "${env:OTELPROC_NEXT_HOP}"}
  prometheus: {endpoint: "${env:OUR_PROMETHEUS_ENDPOINT}"}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [otlp, prometheus]}
  telemetry:
    metrics: {address: "${env:OTELPROC_METRICS_ADDRESS}"}
"""


@pytest.mark.e2e
def test_sdk_metrics_scrape_the_same_from_the_processors_as_from_the_collector(otelcol, tmp_path):
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import Counter, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    from tests.support.pipeline import collector_pipeline, count_items

    ours_port = free_port()
    with collector_pipeline(tmp_path, E2E_YAML, env={"OUR_PROMETHEUS_ENDPOINT": f"127.0.0.1:{ours_port}"}) as p:
        exporter = OTLPMetricExporter(endpoint=p.otlp_grpc_endpoint, insecure=True,
                                      preferred_temporality={Counter: AggregationTemporality.DELTA})
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(metric_readers=[reader], resource=Resource.create(
            {"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-1"}))
        meter = provider.get_meter("shop.checkout", "1.0")
        orders = meter.create_counter("orders.placed", unit="{order}", description="Orders placed")
        in_flight = meter.create_up_down_counter("http.server.active_requests", unit="{request}")
        duration = meter.create_histogram("http.server.request.duration", unit="s", description="Request time")
        meter.create_observable_gauge("queue.utilization", [lambda _: [Observation(0.75, {"queue": "emails"})]],
                                      unit="1")
        try:
            for round_ in range(2):  # two delta windows of the counter: the totals must add up
                for i in range(10):
                    attrs = {"http.route": "/orders/{id}", "http.response.status_code": 200 + (i % 2) * 300}
                    orders.add(1 + round_, {"payment.method": "card"})
                    in_flight.add(1 if i % 3 else -1, attrs)
                    duration.record(0.004 * (i + 1), attrs)
                provider.force_flush()
                # Each flush: 1 counter point, 2 up-down counter points, 2 histogram points, 1 gauge point.
                # Waiting for it keeps the two windows in order on both paths (the hops may reorder
                # requests in flight at the same time, and a window older than the one held is ignored).
                p.wait_for(Signal.METRICS, lambda reqs, n=6 * (round_ + 1): count_items(Signal.METRICS, reqs) >= n,
                           timeout=60)
        finally:
            provider.shutdown()
        theirs = parse(p.scrape())
        with urllib.request.urlopen(f"http://127.0.0.1:{ours_port}/metrics", timeout=10) as response:
            ours = parse(response.read().decode())

    assert ours["orders_placed_total"]["samples"][("orders_placed_total", frozenset({
        "payment_method": "card", "job": "shop/checkout", "instance": "pod-1", "otel_scope_name": "shop.checkout",
        "otel_scope_version": "1.0", "otel_scope_schema_url": ""}.items()))] == 10 + 20
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert (ours[name]["type"], ours[name]["help"]) == (theirs[name]["type"], theirs[name]["help"]), name
        assert set(ours[name]["samples"]) == set(theirs[name]["samples"]), name
        for key, value in theirs[name]["samples"].items():
            assert math.isclose(ours[name]["samples"][key], value), (name, key)
