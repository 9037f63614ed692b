"""Trace↔log correlation end to end on real stores.

Requests to the ingest service (on real PostgreSQL and Redis) flow through the
real Collector, the processors with redaction and log sampling on
(processors/configs/pipeline.yaml), the Collector again, and its backends
overlay into Jaeger v2 (the trace store behind ``otlp/tempo``) and
VictoriaLogs (the log store behind ``otlphttp/loki``). Then:

- log → trace: every log record in the log store names a trace the trace
  store has, and a span of that trace by its span_id;
- trace → log: a trace found in the trace store by service has its log
  records in the log store by its trace id;
- sampling: a trace's sampled log records are all in the store or none are,
  and both outcomes happen;
- redaction: the e-mail address sent in each request is in neither store.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from processors.api import Signal
from tests.services.conftest import pg_url, redis_url, start_app  # noqa: F401  (fixtures)
from tests.services.ingest.conftest import batch, make_ingest  # noqa: F401  (fixtures)
from tests.support.pipeline import BACKENDS, collector_pipeline, count_items
from tests.support.procs import REPO, free_port
from tests.support.stores import eventually, get_json, jaeger_store, victorialogs_store

pytestmark = pytest.mark.e2e

PIPELINE_YAML = (REPO / "processors" / "configs" / "pipeline.yaml").read_text()
N_REQUESTS = 40
SAMPLING_RATIO = 0.5  # P(every one of 40 traces decided alike) = 2**-39
EMAIL_DOMAIN = "@example.com"  # every request's client id is an e-mail address
SEVERITY_WARN = 13


def test_logs_and_traces_find_each_other_in_the_stores(tmp_path: Any, make_ingest: Any, pg_url: str,  # noqa: F811
                                                        redis_url: str) -> None:  # noqa: F811
    env = {"REDACTION_HMAC_KEY": "correlation-test-hmac-key-0123456789", "LOG_SAMPLING_RATE_INFO": str(SAMPLING_RATIO),
           "SESSION_HEALTH_API_ENDPOINT": f"127.0.0.1:{free_port()}", "SESSION_HEALTH_ADMIN_TOKEN": "t" * 32}
    with jaeger_store(tmp_path / "jaeger") as traces, victorialogs_store(tmp_path / "vlogs") as logs, \
            collector_pipeline(tmp_path, PIPELINE_YAML, env=env, overlays=[BACKENDS],
                               collector_env={**traces.collector_env(), **logs.collector_env()}) as pipeline:
        ingest = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, obs_overrides={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{pipeline.otlp_grpc_endpoint}", "OTEL_METRIC_EXPORT_INTERVAL": 500})
        try:
            trace_ids = []
            for i in range(N_REQUESTS):
                response = ingest.post(batch(f"ops.bob{i}{EMAIL_DOMAIN}", f"Pixel {i} 128GB - ${500 + i}"))
                assert response.status_code == 200, response.text
                trace_ids.append(response.headers["traceparent"].split("-")[1])
            ingest.app.state.obs.force_flush()
            _check(pipeline, traces, logs, ingest, trace_ids)
        finally:
            ingest.app.state.obs.shutdown()  # stop exporting before the Collector goes away


def _check(pipeline: Any, traces: Any, logs: Any, ingest: Any, trace_ids: list[str]) -> None:
    emitted_spans: dict[str, set[str]] = {}
    for span in ingest.spans.get_finished_spans():
        emitted_spans.setdefault(f"{span.context.trace_id:032x}", set()).add(f"{span.context.span_id:016x}")
    emitted_logs: dict[str, list[Any]] = {}
    for data in ingest.logs.get_finished_logs():
        record = data.log_record
        if record.trace_id:
            emitted_logs.setdefault(f"{record.trace_id:032x}", []).append(record)
    assert all(emitted_logs.get(t) for t in trace_ids), "every request logs under its trace"

    # Every span of every request reaches the trace store (traces are not sampled).
    for tid in trace_ids:
        eventually(lambda tid=tid: set(traces.span_ids(tid)) >= emitted_spans[tid] or None,
                   f"trace {tid} complete in the trace store", timeout=60)

    # The log store ends up with exactly what passed the sampler (the file sink beside it is the reference).
    def settled() -> int | None:
        ingest.app.state.obs.force_flush()
        in_sink = count_items(Signal.LOGS, pipeline.read(Signal.LOGS))
        return in_sink if in_sink and logs.count("*") == in_sink else None
    stored_total = eventually(settled, "log store holds every log record the Collector exported", timeout=60)

    kept, dropped = [], []
    for tid in trace_ids:
        stored = logs.logs_of_trace(tid)
        emitted = emitted_logs[tid]
        below_warn = [r for r in emitted if (r.severity_number.value if r.severity_number else 0) < SEVERITY_WARN]
        stored_below = [e for e in stored if int(e.get("severity_number", 0)) < SEVERITY_WARN]
        # All of a trace's sampled records or none of them: never some.
        assert len(stored_below) in (0, len(below_warn)), (
            f"trace {tid}: {len(stored_below)} of its {len(below_warn)} sampled log records stored")
        assert len(stored) - len(stored_below) == len(emitted) - len(below_warn), f"trace {tid}: a WARN+ record lost"
        (kept if stored_below else dropped).append(tid)
        # log → trace: the trace is in the trace store, and so is the span each record names.
        span_ids = set(traces.span_ids(tid))
        for entry in stored:
            assert entry["trace_id"] == tid
            assert entry["span_id"] in span_ids, f"log {entry['_msg']!r} names span {entry['span_id']} not in {tid}"
    assert kept and dropped, f"at ratio {SAMPLING_RATIO}: kept {len(kept)}, dropped {len(dropped)} traces"
    assert stored_total >= len(kept)

    # trace → logs: start from the trace store's search by service, then ask the log store by trace id.
    service = ingest.spans.get_finished_spans()[0].resource.attributes["service.name"]
    found = get_json(f"{traces.query_url}/api/traces?"
                      + urllib.parse.urlencode({"service": service, "limit": str(10 * len(trace_ids))}))["data"]
    by_trace = {t["traceID"]: {s["spanID"] for s in t["spans"]} for t in found}
    assert set(trace_ids) <= set(by_trace), "every request's trace is found by service"
    for tid in kept:
        records = logs.query(f'trace_id:="{tid}"')
        assert records and {r["span_id"] for r in records} <= by_trace[tid]
    for tid in dropped:
        assert logs.query(f'trace_id:="{tid}"') == []

    # Redaction ran before the stores: no e-mail address is in either, and the kept records carry the client id masked.
    stored_logs = logs.query("*")
    assert EMAIL_DOMAIN not in json.dumps(stored_logs) + json.dumps(found)
    client_ids = [e["ingest.client_id"] for e in stored_logs if "ingest.client_id" in e]
    assert len(client_ids) == len(kept) and all("@" not in c for c in client_ids), client_ids[:3]
