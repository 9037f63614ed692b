"""Request middleware: X-Request-Id, traceparent, request metrics (services/obs/README.md, Use)."""

from __future__ import annotations

import re

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from opentelemetry import baggage, propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from tests.services.obs.capture import build_app

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[0-3]$")


def _app(**settings):
    app, o, cap = build_app(**settings)

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPException(404, "no such item")
        return {"id": item_id}

    return app, o, cap


def test_request_id_is_generated_when_missing() -> None:
    app, _, _ = _app()
    with TestClient(app) as client:
        a, b = client.get("/items/1"), client.get("/items/1")
    assert re.fullmatch(r"[0-9a-f]{32}", a.headers["x-request-id"])
    assert a.headers["x-request-id"] != b.headers["x-request-id"]


def test_a_plain_incoming_request_id_is_echoed_and_a_strange_one_replaced() -> None:
    app, _, _ = _app()
    with TestClient(app) as client:
        echoed = client.get("/items/1", headers={"X-Request-Id": "edge-7f3a.42"})
        replaced = client.get("/items/1", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert echoed.headers["x-request-id"] == "edge-7f3a.42"
    assert replaced.headers["x-request-id"] != "<script>alert(1)</script>"


@pytest.mark.parametrize("mode", ["lean", "opentelemetry"])
def test_traceparent_names_the_server_span(mode: str) -> None:
    app, _, cap = _app(OBS_INSTRUMENTATION=mode)
    with TestClient(app) as client:
        resp = client.get("/items/3")
    trace_id, span_id = TRACEPARENT.match(resp.headers["traceparent"]).groups()
    server = [s for s in cap.finished_spans() if s.name == "GET /items/{item_id}"]
    assert len(server) == 1
    assert server[0].kind is SpanKind.SERVER
    assert f"{server[0].context.trace_id:032x}" == trace_id
    assert f"{server[0].context.span_id:016x}" == span_id
    assert server[0].attributes["http.request_id"] == resp.headers["x-request-id"]
    assert server[0].attributes["http.route"] == "/items/{item_id}"


def test_lean_server_span_carries_the_stable_http_attributes() -> None:
    from tests.services.obs.semconv import opt_in

    with opt_in("http"):
        app, _, cap = _app(OBS_INSTRUMENTATION="lean")
        with TestClient(app) as client:
            client.get("/items/3")
            client.get("/items/0")
    ok, missing = [s for s in cap.finished_spans() if s.name == "GET /items/{item_id}"]
    assert ok.attributes["http.request.method"] == "GET" and ok.attributes["url.path"] == "/items/3"
    assert ok.attributes["http.response.status_code"] == 200 and ok.status.status_code is StatusCode.UNSET
    assert missing.attributes["http.response.status_code"] == 404
    assert ok.attributes["server.address"] == "testserver" and ok.attributes["network.protocol.version"] == "1.1"


@pytest.mark.parametrize("mode", ["opentelemetry", "lean"])
def test_a_server_error_marks_the_span_and_records_the_exception(mode: str) -> None:
    app, _, cap = build_app(OBS_INSTRUMENTATION=mode)

    @app.get("/fail")
    def fail() -> None:
        raise ValueError("nope")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/fail").status_code == 500
    span = [s for s in cap.finished_spans() if s.name == "GET /fail"][0]
    assert span.status.status_code is StatusCode.ERROR
    # the upstream instrumentation keeps the older attribute name unless told otherwise
    assert span.attributes.get("http.response.status_code", span.attributes.get("http.status_code")) == 500
    assert [e.name for e in span.events] == ["exception"]


def test_probes_are_not_traced_but_still_counted() -> None:
    app, _, cap = _app()
    with TestClient(app) as client:
        client.get("/health/live")
        client.get("/health/startup")
    assert cap.finished_spans() == []
    assert cap.total("demo_http_requests_total", route="/health/live") == 1


@pytest.mark.parametrize("mode", ["opentelemetry", "lean"])
def test_incoming_traceparent_continues_the_callers_trace(mode: str) -> None:
    app, _, cap = _app(OBS_INSTRUMENTATION=mode)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with TestClient(app) as client:
        resp = client.get("/items/3", headers={"traceparent": parent, "tracestate": "vendor=v1"})
        fresh = client.get("/items/3")
    assert resp.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    server = [s for s in cap.finished_spans() if s.name == "GET /items/{item_id}"][0]
    assert server.parent.span_id == 0x00F067AA0BA902B7 and server.parent.is_remote
    assert server.context.trace_state.get("vendor") == "v1"
    # Without one, a new trace starts.
    assert not fresh.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")


class _UpstreamHeader(TextMapPropagator):
    """A propagator with a header of its own (``x-upstream-trace: <trace id>-<span id>``)."""

    fields = frozenset({"x-upstream-trace"})

    def extract(self, carrier, context=None, getter=default_getter):
        values = getter.get(carrier, "x-upstream-trace")
        if not values:
            return context or Context()
        trace_id, span_id = (int(part, 16) for part in values[0].split("-"))
        parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        return set_span_in_context(NonRecordingSpan(parent), context)

    def inject(self, carrier, context=None, setter=default_setter):
        return None


def test_the_configured_propagators_read_the_headers_they_name() -> None:
    app, _, _ = _app()
    seen: list[str | None] = []

    @app.get("/bag")
    def bag() -> dict[str, bool]:
        seen.append(baggage.get_baggage("tenant"))
        return {"ok": True}

    before = propagate.get_global_textmap()
    with TestClient(app) as client:
        client.get("/bag", headers={"baggage": "tenant=t-42"})  # baggage alone, no traceparent
        propagate.set_global_textmap(_UpstreamHeader())
        try:
            own = client.get("/items/3",
                             headers={"x-upstream-trace": "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"})
        finally:
            propagate.set_global_textmap(before)
    assert seen == ["t-42"]
    assert own.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")


def test_request_metrics_use_the_route_template_method_and_status() -> None:
    app, o, cap = _app()
    with TestClient(app) as client:
        for i in (1, 2, 3):
            client.get(f"/items/{i}")
        client.get("/items/0")
        client.get("/no/such/path")
    total = "demo_http_requests_total"
    assert cap.total(total, route="/items/{item_id}", method="GET", status="200") == 3
    assert cap.total(total, route="/items/{item_id}", status="404") == 1
    # Unrouted paths share one label value: raw paths would make the series unbounded.
    assert cap.total(total, route="unmatched", status="404") == 1
    assert cap.total("demo_http_request_duration_seconds", route="/items/{item_id}", method="GET") == 4
    assert o.metrics_prefix == "demo"


def test_an_unhandled_error_is_counted_as_500_and_logged_as_error(capfd) -> None:
    app, _, cap = build_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    assert cap.total("demo_http_requests_total", route="/boom", status="500") == 1
    errors = [r for r in cap.log_records() if r.severity_text == "ERROR"]
    assert errors and errors[-1].attributes["route"] == "/boom"


@pytest.mark.parametrize("mode", ["opentelemetry", "lean"])
def test_the_excluded_urls_variable_decides_what_is_traced(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", r"items/\d+$")
    app, _, cap = _app(OBS_INSTRUMENTATION=mode)
    with TestClient(app) as client:
        assert client.get("/items/3").status_code == 200
        assert client.get("/health/live").status_code == 200
    # Set, the variable alone decides: the probe path is traced, the excluded route is not.
    assert [s.name for s in cap.finished_spans() if s.kind is SpanKind.SERVER] == ["GET /health/live"]
