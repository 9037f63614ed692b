"""What leaves the process over OTLP gRPC: a request's spans and logs, cleaned, as a Collector receives them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.services.obs.capture import build_app
from tests.services.obs.otlp_sink import otlp_sink


def _attributes(item) -> dict[str, object]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in item.attributes}


# Per instrumentation mode: the server span's scope, and its status and client-address attributes (unset opt-in).
MODES = {
    "lean": ("services.obs.fastapi", "http.status_code", "net.peer.ip"),  # the same conventions as upstream
    "opentelemetry": ("opentelemetry.instrumentation.fastapi", "http.status_code", "net.peer.ip"),
}


@pytest.mark.parametrize("mode", MODES)
def test_a_request_reaches_the_collector_as_cleaned_spans_and_correlated_logs(mode: str) -> None:
    scope, status_key, client_key = MODES[mode]
    with otlp_sink() as sink:
        app, o, _ = build_app(OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint, OBS_INSTRUMENTATION=mode)

        @app.get("/rooms/{room_id}")
        def room(room_id: int) -> dict[str, int]:
            with o.tracer.start_as_current_span("load room", attributes={"owner.email": "ada@example.com"}):
                o.logger.info("room loaded", extra={"room_id": room_id})
            return {"id": room_id}

        with TestClient(app, client=("203.0.113.9", 5000)) as client:
            resp = client.get("/rooms/7?token=s3cret")
        o.shutdown()

    trace_id = bytes.fromhex(resp.headers["traceparent"].split("-")[1])
    spans = {s.name: s for s in sink.spans() if s.trace_id == trace_id}
    assert set(spans) == {"GET /rooms/{room_id}", "load room"}
    server = _attributes(spans["GET /rooms/{room_id}"])
    assert server["http.route"] == "/rooms/{room_id}" and server[status_key] == 200
    assert server[client_key] == "203.0.113.0"  # the network, not the client
    assert "s3cret" not in str(server) and _attributes(spans["load room"])["owner.email"] == "****"
    scopes = {ss.scope.name for req in sink.requests("traces") for rs in req.resource_spans for ss in rs.scope_spans}
    assert scope in scopes
    logs = [r for req in sink.requests("logs") for rl in req.resource_logs for sl in rl.scope_logs
            for r in sl.log_records if r.body.string_value == "room loaded"]
    assert len(logs) == 1 and logs[0].trace_id == trace_id and _attributes(logs[0])["room_id"] == 7
