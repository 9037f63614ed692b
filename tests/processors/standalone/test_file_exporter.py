"""The ``file`` exporter: one OTLP/JSON line per request, one file per signal,
acknowledged only once written (processors/standalone/file_exporter.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from bench.common import span_request
from processors.api import CreateSettings, ExportError, Payload, Signal
from processors.config import ConfigError, parse_config, validate_component
from processors.pipeline import build_service
from processors.registry import Registry
from processors.standalone import otlp_json
from processors.standalone.file_exporter import FACTORY, FileExporter, FileExporterConfig
from processors.telemetry import SelfTelemetry


def make_exporter(**raw) -> FileExporter:
    config = validate_component(FileExporterConfig, raw, "exporters.file")
    return FACTORY.create(config, CreateSettings(component_id="file", telemetry=SelfTelemetry()))


def lines_of(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1]


def read_sink(signal: Signal, *paths: Path) -> list[dict]:
    """Every line of the files, checked to decode, as JSON objects."""
    out = []
    for path in paths:
        for line in lines_of(path):
            otlp_json.decode(signal, line)
            out.append(json.loads(line))
    return out


def as_lines(signal: Signal, *requests) -> list[dict]:
    return [json.loads(otlp_json.encode(signal, r)) for r in requests]


def log_request(body: str):
    req = Signal.LOGS.request_type()
    req.resource_logs.add().scope_logs.add().log_records.add(severity_number=9).body.string_value = body
    return req


def metric_request(value: float):
    req = Signal.METRICS.request_type()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="queue.depth")
    metric.gauge.data_points.add(as_double=value)
    return req


# --- config ------------------------------------------------------------------------


def test_the_entry_point_resolves_to_this_factory():
    assert Registry().get("exporters", "file") is FACTORY
    assert FACTORY.type == "file"


def test_a_directory_gets_one_file_per_signal_and_a_template_names_each(tmp_path):
    in_dir = FileExporterConfig(path=str(tmp_path))
    assert [in_dir.path_for(s) for s in Signal] == [tmp_path / "traces.jsonl", tmp_path / "metrics.jsonl",
                                                    tmp_path / "logs.jsonl"]
    template = FileExporterConfig(path=f"{tmp_path}/{{signal}}/otlp.jsonl")
    assert template.path_for(Signal.LOGS) == tmp_path / "logs" / "otlp.jsonl"
    assert in_dir.rotation is None and in_dir.fsync == "never"


@pytest.mark.parametrize(("raw", "path", "problem"), [
    ({}, "exporters.file.path", "Field required"),
    ({"path": "/x/{service}.jsonl"}, "exporters.file.path", "the only placeholder allowed is {signal}"),
    ({"path": "/x", "rotation": {"max_megabytes": 0}}, "exporters.file.rotation.max_megabytes", "greater than 0"),
    ({"path": "/x", "fsync": "sometimes"}, "exporters.file.fsync", "'never' or 'always'"),
    ({"path": "/x", "flush_interval": "1s"}, "exporters.file.flush_interval", "unknown key"),
])
def test_bad_config_names_the_key(raw, path, problem):
    with pytest.raises(ConfigError) as err:
        validate_component(FileExporterConfig, raw, "exporters.file")
    assert err.value.path == path
    assert problem in err.value.problem


def test_a_pipeline_config_builds_it_for_every_signal(tmp_path):
    service = build_service(parse_config(f"""
receivers:
  otlp: {{grpc: {{endpoint: 127.0.0.1:0}}}}
exporters:
  file: {{path: {tmp_path}, rotation: {{max_megabytes: 5}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [file]}}
    logs: {{receivers: [otlp], exporters: [file]}}
"""))
    exporter = service.exporters["file"]
    assert isinstance(exporter, FileExporter)
    assert exporter.config.rotation.max_megabytes == 5 and exporter.config.rotation.max_backups == 100


# --- writing -------------------------------------------------------------------------


async def test_each_request_is_one_line_in_its_signals_file_once_export_returns(tmp_path):
    exporter = make_exporter(path=str(tmp_path))
    await exporter.start()
    try:
        traces = span_request(3)
        await exporter.export(Payload(Signal.TRACES, raw=traces.SerializeToString()))
        # Acknowledged means written: the line is there as soon as export returns.
        assert read_sink(Signal.TRACES, tmp_path / "traces.jsonl") == as_lines(Signal.TRACES, traces)
        await exporter.export(Payload(Signal.LOGS, message=log_request("first")))
        await exporter.export(Payload(Signal.LOGS, message=log_request("second")))
        await exporter.export(Payload(Signal.METRICS, message=metric_request(4.5)))
    finally:
        await exporter.shutdown()
    assert read_sink(Signal.LOGS, tmp_path / "logs.jsonl") == as_lines(
        Signal.LOGS, log_request("first"), log_request("second"))
    assert read_sink(Signal.METRICS, tmp_path / "metrics.jsonl") == as_lines(Signal.METRICS, metric_request(4.5))
    assert len(lines_of(tmp_path / "traces.jsonl")) == 1


async def test_it_appends_to_what_an_earlier_run_wrote(tmp_path):
    for body in ("before restart", "after restart"):
        exporter = make_exporter(path=f"{tmp_path}/{{signal}}.otlp.jsonl", fsync="always")
        await exporter.start()
        await exporter.export(Payload(Signal.LOGS, message=log_request(body)))
        await exporter.shutdown()
    assert read_sink(Signal.LOGS, tmp_path / "logs.otlp.jsonl") == as_lines(
        Signal.LOGS, log_request("before restart"), log_request("after restart"))


async def test_concurrent_exports_never_interleave_lines(tmp_path):
    exporter = make_exporter(path=str(tmp_path))
    await exporter.start()
    try:
        sent = [span_request(40, seed=i) for i in range(30)]
        await asyncio.gather(*(exporter.export(Payload(Signal.TRACES, message=req)) for req in sent))
    finally:
        await exporter.shutdown()
    got = read_sink(Signal.TRACES, tmp_path / "traces.jsonl")
    key = lambda line: json.dumps(line, sort_keys=True)  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, as_lines(Signal.TRACES, *sent)))


async def test_a_full_disk_is_a_retryable_export_error(tmp_path):
    # /dev/full accepts the open and fails every write with ENOSPC: a real full disk.
    os.symlink("/dev/full", tmp_path / "logs.jsonl")
    exporter = make_exporter(path=str(tmp_path))
    await exporter.start()
    try:
        with pytest.raises(ExportError) as err:
            await exporter.export(Payload(Signal.LOGS, message=log_request("lost?")))
    finally:
        await exporter.shutdown()
    assert err.value.retryable
    assert "No space left on device" in str(err.value) and "logs.jsonl" in str(err.value)


async def test_start_fails_naming_the_path_it_cannot_write(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    exporter = make_exporter(path=str(tmp_path / "a-file" / "sinks"))
    with pytest.raises(RuntimeError, match=r"exporters\.file: cannot create .*a-file/sinks: Not a directory"):
        await exporter.start()


async def test_a_signal_with_no_data_leaves_no_file(tmp_path):
    exporter = make_exporter(path=str(tmp_path / "sinks"))
    await exporter.start()
    await exporter.export(Payload(Signal.LOGS, message=log_request("only logs")))
    await exporter.shutdown()
    assert sorted(p.name for p in (tmp_path / "sinks").iterdir()) == ["logs.jsonl"]


async def test_rotation_keeps_max_backups_and_loses_no_line(tmp_path):
    exporter = make_exporter(path=str(tmp_path), rotation={"max_megabytes": 0.002, "max_backups": 3})
    sent = [log_request(f"record {i:03d} " + "x" * 300) for i in range(40)]
    await exporter.start()
    try:
        for req in sent:
            await exporter.export(Payload(Signal.LOGS, message=req))
    finally:
        await exporter.shutdown()
    backups = exporter.files[Signal.LOGS].backups()
    assert len(backups) == 3
    assert all(b.name.startswith("logs-") and b.suffix == ".jsonl" for b in backups)
    limit = int(0.002 * 1024 * 1024)
    for path in [*backups, tmp_path / "logs.jsonl"]:
        assert path.stat().st_size <= limit
    # The newest lines are all there, in order, each whole: the oldest backups were pruned.
    kept = read_sink(Signal.LOGS, *backups, tmp_path / "logs.jsonl")
    assert kept == as_lines(Signal.LOGS, *sent)[-len(kept):]
    assert len(kept) >= 3 * (limit // len(otlp_json.encode(Signal.LOGS, sent[0])) - 1)


# --- end to end: beside the Collector's own file exporter -----------------------------------

E2E_YAML = """
receivers:
  otlp:
    grpc: {endpoint: "${env:OTELPROC_RECEIVER_ENDPOINT}"}
exporters:
  otlp: {endpoint: "${env:OTELPROC_NEXT_HOP}"}
  file: {path: "${env:SINK_DIR}"}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp, file]}
    logs: {receivers: [otlp], exporters: [otlp, file]}
  telemetry:
    metrics: {address: "${env:OTELPROC_METRICS_ADDRESS}"}
"""


@pytest.mark.e2e
def test_our_lines_are_the_lines_the_collectors_file_exporter_writes(otelcol, tmp_path):
    """SDK spans and logs go otelcol -> processors -> otelcol; the processors' file
    sink and the Collector's file sink (after it) hold the same JSON, request by request."""
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tests.support.pipeline import collector_pipeline, count_items

    ours = tmp_path / "ours"
    with collector_pipeline(tmp_path, E2E_YAML, env={"SINK_DIR": str(ours)}) as p:
        resource = Resource.create({"service.name": "checkout", "service.instance.id": "pod-1"})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=p.otlp_grpc_endpoint,
                                                                               insecure=True)))
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
            endpoint=p.otlp_grpc_endpoint, insecure=True)))
        log = logging.getLogger("e2e.file-exporter")
        log.propagate, log.level = False, logging.INFO
        handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
        log.addHandler(handler)
        tracer = tracer_provider.get_tracer("shop.checkout", "1.0")
        try:
            for order in range(40):
                with tracer.start_as_current_span("GET /orders/{id}", attributes={"order.id": order,
                                                                                   "price": order * 1.25}) as span:
                    span.add_event("priced", {"currency": "EUR"})
                    log.info("order %d served\nin one line", order)
            tracer_provider.force_flush()
            logger_provider.force_flush()
        finally:
            log.removeHandler(handler)
            tracer_provider.shutdown()
            logger_provider.shutdown()

        for signal, items in ((Signal.TRACES, 40), (Signal.LOGS, 40)):
            p.wait_for(signal, lambda reqs, s=signal, n=items: count_items(s, reqs) >= n, timeout=60)
            theirs = [json.loads(line, parse_int=float) for line in lines_of(p.sink_path(signal))]
            mine = [json.loads(line, parse_int=float) for line in lines_of(ours / f"{signal.value}.jsonl")]
            # Same requests (the processors ack only after both exporters wrote), the same JSON for each.
            key = lambda line: json.dumps(line, sort_keys=True)  # noqa: E731
            assert sorted(map(key, mine)) == sorted(map(key, theirs)), signal
