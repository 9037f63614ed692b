"""JSON logs: their fields, trace correlation, INFO sampling, the PII policy."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from services.obs.logging import InfoSampler
from tests.services.obs.capture import build_app

SEED_FIELDS = {"ts", "level", "msg", "service", "env", "commit", "request_id", "trace_id", "span_id", "route",
               "status", "latency_ms"}


def _json_lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def _app(**settings) -> tuple[FastAPI, object, object]:
    app, o, cap = build_app(**settings)

    @app.get("/hello/{name}")
    def hello(name: str) -> dict[str, str]:
        o.set_user(77)
        o.logger.info("said hello", extra={"greeting_len": len(name)})
        return {"ok": "yes"}

    return app, o, cap


def test_access_log_line_has_every_seed_field(capfd: pytest.CaptureFixture[str]) -> None:
    app, _, _ = _app(ENV="test", COMMIT="abc1234")
    with TestClient(app, client=("203.0.113.9", 5000)) as client:
        resp = client.get("/hello/ada")
    lines = _json_lines(capfd.readouterr().err)
    access = [line for line in lines if line["msg"] == "GET /hello/{name} 200"][0]
    assert access.keys() >= SEED_FIELDS
    assert access["service"] == "demo-api" and access["env"] == "test" and access["commit"] == "abc1234"
    assert access["request_id"] == resp.headers["x-request-id"]
    assert resp.headers["traceparent"].split("-")[1] == access["trace_id"]
    assert access["route"] == "/hello/{name}" and access["status"] == 200 and access["latency_ms"] > 0
    assert access["user_id"] == "77" and access["ip"] == "203.0.113.0"


def test_handler_logs_share_the_request_trace_through_the_otel_bridge(capfd: pytest.CaptureFixture[str]) -> None:
    app, _, cap = _app()
    with TestClient(app) as client:
        resp = client.get("/hello/ada")
    trace_id = int(resp.headers["traceparent"].split("-")[1], 16)
    records = [r for r in cap.log_records() if r.body == "said hello"]
    assert len(records) == 1
    assert records[0].trace_id == trace_id
    assert records[0].attributes["request_id"] == resp.headers["x-request-id"]
    assert records[0].attributes["greeting_len"] == 3


def test_info_is_dropped_at_rate_zero_but_warnings_and_errors_never() -> None:
    app, o, cap = build_app(LOG_SAMPLING_RATE_INFO=0.0)
    for _ in range(20):
        o.logger.info("chatty")
    o.logger.warning("careful")
    o.logger.error("broken")
    assert [r.body for r in cap.log_records()] == ["careful", "broken"]


def test_sampling_keeps_or_drops_a_whole_trace() -> None:
    app, o, cap = build_app(LOG_SAMPLING_RATE_INFO=0.5)
    kept_per_trace = []
    for _ in range(40):
        with o.tracer.start_as_current_span("work"):
            before = len(cap.log_records())
            for i in range(5):
                o.logger.info("step %d", i)
            kept_per_trace.append(len(cap.log_records()) - before)
    assert set(kept_per_trace) <= {0, 5}
    # 40 traces at 1:2: both outcomes appear (the chance of either being absent is 2 * 2**-40).
    assert 0 in kept_per_trace and 5 in kept_per_trace


@pytest.mark.parametrize(("low_bits", "kept"), [(0, True), (int(0.09 * 2**56), True), (int(0.11 * 2**56), False),
                                                 (2**56 - 1, False)])
def test_sampler_cuts_on_the_low_56_bits_of_the_trace_id(low_bits: int, kept: bool) -> None:
    """The same cut as the pipeline's sampler (W3C random bits), so both keep the same traces."""
    ctx = SpanContext(trace_id=(0xABC << 64) | low_bits, span_id=1, is_remote=False)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    with trace.use_span(NonRecordingSpan(ctx)):
        assert InfoSampler(0.1).filter(record) is kept
        record.levelno = logging.WARNING
        assert InfoSampler(0.1).filter(record) is True


def test_messages_and_extras_obey_the_pii_policy(capfd: pytest.CaptureFixture[str]) -> None:
    app, o, cap = build_app()
    o.logger.info("login by %s with %s", "ada@example.com", "Bearer tok-123456",
                  extra={"token": "tok-123456", "lat": 41.008234, "lon": 28.978359, "body": "hello there",
                         "ids": list(range(30)), "note": "at 41.008234,28.978359"})
    line = _json_lines(capfd.readouterr().err)[-1]
    bridged = cap.log_records()[-1]
    for rendered in (json.dumps(line), str(bridged.body) + str(dict(bridged.attributes))):
        for secret in ("ada@example.com", "tok-123456", "41.008234", "28.978359", "hello there"):
            assert secret not in rendered
    assert line["lat"] == 41.0 and line["lon"] == 29.0 and len(line["ids"]) == 10


def test_exceptions_are_logged_with_a_scrubbed_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    app, o, cap = build_app()
    try:
        raise ValueError("bad address ada@example.com")
    except ValueError:
        o.logger.exception("failed")
    line = _json_lines(capfd.readouterr().err)[-1]
    assert "ValueError" in line["exc"] and "ada@example.com" not in line["exc"]
    assert "ada@example.com" not in str(dict(cap.log_records()[-1].attributes))


def test_log_level_flag_filters_below_it() -> None:
    app, o, cap = build_app(LOG_LEVEL="WARNING")
    o.logger.info("quiet")
    o.logger.warning("loud")
    assert [r.body for r in cap.log_records()] == ["loud"]


def test_the_access_log_record_names_the_middleware_as_its_source() -> None:
    app, o, _ = _app()
    seen: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = seen.append  # type: ignore[method-assign]
    o.logger.addHandler(collector)
    with TestClient(app) as client:
        client.get("/hello/ada")
    access = [r for r in seen if r.getMessage() == "GET /hello/{name} 200"]
    assert len(access) == 1
    assert access[0].funcName == "_access_log" and access[0].pathname.endswith("services/obs/middleware.py")
    assert access[0].lineno > 0 and access[0].levelno == logging.INFO and access[0].name == o.logger.name
