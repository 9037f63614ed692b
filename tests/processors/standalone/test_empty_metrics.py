"""Metrics without data points go nowhere: the file exporter leaves them out
(and a request with nothing left writes no line), the prometheus exporter
exposes no family for them, and standalone mode left idle for a session-health
evaluation writes no such metric to its sink."""

from __future__ import annotations

import sys
import time
import urllib.request

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc

from processors.api import Payload, Signal
from processors.session_health.config import SessionHealthConfig
from processors.standalone.file_exporter import without_empty_metrics
from tests.processors.standalone.test_file_exporter import make_exporter, read_sink
from tests.processors.standalone.test_prometheus_exporter import Request, serve  # noqa: F401  (the fixture)
from tests.support.pipeline import read_sink as read_jsonl
from tests.support.procs import REPO, free_port, running


def _mixed() -> Request:
    req = Request()
    req.metrics.add(name="no.data")  # no data field at all
    req.metrics.add(name="no.points").gauge.SetInParent()  # a gauge with no points
    req.gauge("queue.depth", 4.5)
    return req


def _empty_metrics(requests) -> list[str]:
    return [m.name for r in requests for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if not m.WhichOneof("data") or not getattr(m, m.WhichOneof("data")).data_points]


def _names(requests) -> list[str]:
    return [m.name for r in requests for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


async def test_the_file_exporter_writes_only_metrics_with_points(tmp_path):
    exporter = make_exporter(path=str(tmp_path))
    await exporter.start()
    try:
        mixed = _mixed()
        payload = Payload(Signal.METRICS, message=mixed.message)
        await exporter.export(payload)
        empty_only = Request()
        empty_only.metrics.add(name="nothing").sum.SetInParent()
        await exporter.export(Payload(Signal.METRICS, message=empty_only.message))
    finally:
        await exporter.shutdown()
    lines = read_sink(Signal.METRICS, tmp_path / "metrics.jsonl")
    assert len(lines) == 1  # the request with nothing left wrote no line
    [line] = lines
    [rm] = line["resourceMetrics"]
    assert [m["name"] for sm in rm["scopeMetrics"] for m in sm["metrics"]] == ["queue.depth"]
    assert {a["key"] for a in rm["resource"]["attributes"]} >= {"service.name"}
    assert rm["scopeMetrics"][0]["scope"]["name"] == "shop.metrics"
    # The payload is shared with the other exporters of the pipeline: it is left as it came.
    assert _names([payload.message]) == ["no.data", "no.points", "queue.depth"]


def test_a_request_whose_metrics_all_have_points_is_passed_through_as_it_is():
    req = Request()
    req.gauge("a", 1.0)
    req.sum("b", 2)
    assert without_empty_metrics(req.message) is req.message


async def test_the_prometheus_exporter_exposes_no_family_for_a_metric_without_points(serve):  # noqa: F811
    running_exporter = await serve()
    await running_exporter.export(_mixed())
    text = await running_exporter.text()
    assert "queue_depth" in text
    assert "no_data" not in text and "no_points" not in text
    # Nothing was lost, so nothing counts as dropped.
    assert not any(running_exporter.dropped(reason) for reason in ("invalid_name", "type_conflict", "label_conflict"))


@pytest.mark.e2e
def test_standalone_mode_idle_for_an_evaluation_writes_no_metric_without_points(tmp_path):
    grpc_port, http_port, prom_port = free_port(), free_port(), free_port()
    sinks = tmp_path / "sinks"
    env = {
        "OTELPROC_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}", "OTELPROC_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "OTELPROC_PROMETHEUS_ENDPOINT": f"127.0.0.1:{prom_port}", "OTELPROC_SINK_DIR": str(sinks),
        "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "SESSION_HEALTH_API_ENDPOINT": f"127.0.0.1:{free_port()}", "SESSION_HEALTH_ADMIN_TOKEN": "t",
        "REDACTION_HMAC_KEY": "k" * 32,
    }
    interval = SessionHealthConfig().evaluation_interval_s  # standalone.yaml keeps the default
    argv = [sys.executable, "-m", "processors.cli", "serve",
            "--config", str(REPO / "processors/configs/standalone.yaml")]
    with running(argv, port=grpc_port, log=tmp_path / "otelproc.log", env=env):
        time.sleep(interval + 1.5)  # at least one evaluation of an empty fleet
        # A sender's metric without points beside one with a point: only the latter arrives.
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            metrics_service_pb2_grpc.MetricsServiceStub(channel).Export(_mixed().message, timeout=10)
        path = sinks / "metrics.jsonl"
        deadline = time.monotonic() + 15
        while "queue.depth" not in _names(read_jsonl(path, Signal.METRICS)) and time.monotonic() < deadline:
            time.sleep(0.1)
        written = read_jsonl(path, Signal.METRICS)
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=5) as r:
            exposition = r.read().decode()
    assert "queue.depth" in _names(written)
    assert _empty_metrics(written) == []
    assert not any(n.startswith("wa_") for n in _names(written))  # the idle connector sent nothing at all
    assert "no_points" not in exposition and "wa_tenant" not in exposition
