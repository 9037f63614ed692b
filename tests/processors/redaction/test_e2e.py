"""End to end: the OTel SDK emits spans, logs and metrics carrying planted PII;
bin/otelcol sends them through the processors running redaction; the raw
bytes of every sink (the Collector's file exporter per signal, its Prometheus
scrape) hold none of the planted values, and a hashed value is the same in
every signal."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Status, StatusCode
from prometheus_client.parser import text_string_to_metric_families

from processors.api import Signal
from tests.processors.redaction.conftest import HMAC_KEY, pipeline_yaml
from tests.support.pipeline import collector_pipeline, count_items

pytestmark = pytest.mark.e2e

PROCESSORS_YAML = pipeline_yaml("""
    operators: {email: hash, phone: hash}
    hash_key: ${env:REDACTION_HMAC_KEY}
    summary: info""")

EMAIL = "Anna.Smith@mail.example.org"
PHONE = "+49 151 23456789"
JID = "4915123456789@s.whatsapp.net"
CARD = "4111 1111 1111 1111"
IBAN = "DE89370400440532013000"
IP = "203.0.113.77"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFubmEifQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
SECRET = "hunter2-very-secret"
LAT = "52.520008"
# What must appear nowhere: the values, and the cores of their other spellings.
PLANTED = [EMAIL, EMAIL.lower(), "anna.smith", PHONE, "4915123456789", "23456789", CARD, "4111111111111111",
           IBAN, "370400440532013000", IP, JWT, JWT.split(".")[1], SECRET, LAT]
# The coordinate's decimals alone: six digits, so looked for in text values and labels only (an id, a
# timestamp or a count can hold any six digits).
COORD_FRAGMENT = "520008"
# OTLP/JSON fields that are ids, times or counts, never text.
_NOT_TEXT = re.compile(r'"(?:traceId|spanId|parentSpanId|\w*[tT]imeUnixNano|count|sum|min|max|asInt|'
                       r'bucketCounts|explicitBounds|flags|droppedAttributesCount|asDouble)"\s*:\s*'
                       r'(?:"[^"]*"|\[[^\]]*\]|[-0-9.eE+]+)')


def digest(normalized: str) -> str:
    return hmac.new(HMAC_KEY.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def emit_everything(endpoint: str) -> None:
    resource = Resource.create({"service.name": "e2e-redaction", "enduser.contact": EMAIL})

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    tracer = tp.get_tracer("e2e.redaction", schema_url=None)
    with tracer.start_as_current_span("checkout") as parent:
        parent_ctx = parent.get_span_context()
    for i in range(20):
        with tracer.start_as_current_span(
            f"GET /users/{EMAIL}", links=[Link(parent_ctx, {"payer.iban": IBAN})],
            attributes={"user.phone": PHONE, "payment.card": f"card {CARD}", "db.password": SECRET,
                        "http.request.header.authorization": f"Bearer {JWT}", "order.id": f"ORD-2024-{i:06d}"},
        ) as span:
            span.add_event("login", {"client": f"from {IP}", "location": f"{LAT}, 13.404954"})
            span.set_status(Status(StatusCode.ERROR, f"user {EMAIL} not found"))
    tp.shutdown()

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
    log = logging.getLogger("e2e.redaction")
    log.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=lp)
    log.addHandler(handler)
    try:
        for _ in range(10):
            log.warning("message from %s to %s paid with %s", JID, EMAIL, CARD,
                        extra={"wa_id": "4915123456789", "geo.location.lat": float(LAT)})
        otel_logger = lp.get_logger("e2e.redaction.structured")
        for _ in range(10):
            otel_logger.emit(body={"event": "signup", "user": {"email": EMAIL, "devices": [IP, "ios"]},
                                   "note": f"token={JWT}"}, attributes={"tenant.id": "t-42"})
    finally:
        log.removeHandler(handler)
        lp.shutdown()

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True),
                                           export_interval_millis=60_000)
    # The view keeps "route" on the series, so the other attributes land on exemplars.
    mp = MeterProvider(resource=resource, metric_readers=[reader],
                       views=[View(instrument_name="e2e.latency", attribute_keys={"route"})])
    meter = mp.get_meter("e2e.redaction")
    counter = meter.create_counter("e2e.signups")
    latency = meter.create_histogram("e2e.latency", unit="ms")
    tp2 = TracerProvider(resource=resource)
    with tp2.get_tracer("e2e").start_as_current_span("sampled"):
        for ms in (12, 48, 230):
            counter.add(1, {"user.email": EMAIL, "client.address": IP})
            latency.record(ms, {"route": "/signup", "user.email": EMAIL, "phone": PHONE})
    mp.shutdown()
    tp2.shutdown()


def test_no_planted_value_reaches_any_sink_and_hashes_join(otelcol, tmp_path):
    with collector_pipeline(tmp_path, PROCESSORS_YAML, env={"REDACTION_HMAC_KEY": HMAC_KEY}) as p:
        emit_everything(p.otlp_grpc_endpoint)
        p.wait_for(Signal.TRACES, lambda r: count_items(Signal.TRACES, r) >= 21, timeout=60)
        p.wait_for(Signal.LOGS, lambda r: count_items(Signal.LOGS, r) >= 20, timeout=60)
        p.wait_for(Signal.METRICS, lambda r: count_items(Signal.METRICS, r) >= 2, timeout=60)
        scrape = p.scrape()
        with urllib.request.urlopen(p.processors_metrics_url, timeout=5) as r:
            self_metrics = r.read().decode()

        sinks = {signal: p.sink_path(signal).read_bytes().decode() for signal in Signal}
        sinks["prometheus"] = scrape
        for name, text in sinks.items():
            for value in PLANTED:
                assert value not in text, f"{value!r} reached the {name} sink"
            texts = (" ".join(f"{s.name} {' '.join(s.labels.values())}"
                              for fam in text_string_to_metric_families(text) for s in fam.samples)
                     if name == "prometheus" else _NOT_TEXT.sub("", text))
            assert COORD_FRAGMENT not in texts, f"the coordinate's decimals reached the {name} sink"

        email_hash, phone_hash = digest(EMAIL.lower()), digest("+4915123456789")
        for signal in Signal:
            assert email_hash in sinks[signal], f"the hashed email is missing from {signal.value}"
        assert phone_hash in sinks[Signal.TRACES] and phone_hash in sinks[Signal.LOGS]
        assert phone_hash in sinks[Signal.METRICS]  # on the exemplar
        assert f'user_email="{email_hash}"' in scrape

        assert "e2e.signups" in sinks[Signal.METRICS] and "redaction.masked.count" in sinks[Signal.TRACES]
        for signal in ("traces", "logs", "metrics"):
            assert f'signal="{signal}"' in self_metrics and "otelproc_redaction_findings_total" in self_metrics
        assert 'rule="blocked_key"' in self_metrics and 'rule="credit_card"' in self_metrics
        assert not any(value in self_metrics for value in PLANTED)
