"""The OTLP gRPC Locust user against the real pipeline (otelcol → processors → otelcol → file sink):
at a rate the pipeline holds, every acknowledged span and log record is read back from the sink (100 %
arrival, counted again here from the sink itself); with the processors stopped, the Collector holds the
data in its queue, arrival falls short and the run exits 1 with the ALERT: stanza."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processors.api import Signal
from tests.loadtests.conftest import run_locust
from tests.support.pipeline import collector_pipeline

pytestmark = pytest.mark.e2e


def _loadgen_items(requests: list, signal: Signal) -> int:
    n = 0
    for req in requests:
        groups = req.resource_spans if signal is Signal.TRACES else req.resource_logs
        for rg in groups:
            if any(a.key == "service.name" and a.value.string_value == "otlp-loadgen" for a in rg.resource.attributes):
                scopes = rg.scope_spans if signal is Signal.TRACES else rg.scope_logs
                n += sum(len(s.spans) if signal is Signal.TRACES else len(s.log_records) for s in scopes)
    return n


def test_every_item_sent_arrives_in_the_sink_and_a_stalled_pipeline_fails_the_gate(tmp_path: Path,
                                                                                  otelcol: str) -> None:
    with collector_pipeline(tmp_path / "pipe") as p:
        sink = p.egress.sink_dir
        run = run_locust("otlp_pipeline.py", p.otlp_grpc_endpoint, "-u", "2", "-r", "2", "-t", "8s",
                         "--target-rps", "8", "--traces-per-request", "10", "--sink-dir", str(sink),
                         tmp=tmp_path)
        assert run.returncode == 0, run.output[-3000:]
        spans = re.search(r"^OTLP traces: (\d+) spans acknowledged \((\d+)/s\), (\d+) in the sink \(100.00 %\)$",
                          run.output, re.MULTILINE)
        logs = re.search(r"^OTLP logs: (\d+) log records acknowledged \((\d+)/s\), (\d+) in the sink \(100.00 %\)$",
                         run.output, re.MULTILINE)
        assert spans and logs, run.output[-3000:]
        # 8 requests/s of each signal, 30 spans and 20 log records each, over about 8 s.
        assert int(spans.group(1)) == int(spans.group(3)) >= 30 * 8 * 4
        assert int(logs.group(1)) == int(logs.group(3)) == int(spans.group(1)) * 2 // 3
        assert int(spans.group(2)) >= 100
        assert re.search(r"^OTLP send→sink latency: p50 [\d.]+ s, p95 [\d.]+ s, max [\d.]+ s", run.output, re.MULTILINE)
        assert re.search(r"^GATE PASS otlp pipeline: arrival = 100 %", run.output, re.MULTILINE)
        # Counted again here, from the sink itself: exactly what the user says it sent, no more, no less.
        # (An export call the end of the run cut off may have reached the Collector: the user reports those.)
        cut = re.search(r"^OTLP items in export calls cut off .*: (\d+), (\d+) of them in the sink$", run.output,
                        re.MULTILINE)
        cut_arrived = int(cut.group(2)) if cut else 0
        assert _loadgen_items(p.read(Signal.TRACES), Signal.TRACES) + _loadgen_items(p.read(Signal.LOGS), Signal.LOGS) \
            == int(spans.group(1)) + int(logs.group(1)) + cut_arrived
        # gRPC calls show in Locust's stats through the interceptor.
        stats = (tmp_path / "locust_stats.csv").read_text()
        assert "grpc,/opentelemetry.proto.collector.trace.v1.TraceService/Export" in stats
        assert "grpc,/opentelemetry.proto.collector.logs.v1.LogsService/Export" in stats

        p.processors.stop()
        stalled = run_locust("otlp_pipeline.py", p.otlp_grpc_endpoint, "-u", "1", "-r", "1", "-t", "3s",
                             "--target-rps", "4", "--sink-dir", str(sink), "--drain-s", "2", tmp=tmp_path)
        assert stalled.returncode == 1, stalled.output[-3000:]
        assert re.search(r"^GATE FAIL otlp pipeline: arrival = 100 %, measured [\d.]+ %", stalled.output, re.MULTILINE)
        assert "ALERT: otlp pipeline: 1 load gate(s) failed" in stalled.output
        assert re.search(r"^  gate arrival = 100 %: measured [\d.]+ % \(\d+ of \d+ items not in the sink",
                         stalled.output, re.MULTILINE)
