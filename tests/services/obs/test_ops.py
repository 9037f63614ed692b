"""/metrics and /ops/*: the admin guard, and what each endpoint does (services/obs/README.md)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind

from tests.services.obs.capture import build_app

GUARDED = [("GET", "/metrics"), ("POST", "/ops/rollover"), ("POST", "/ops/trace/test")]


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_guarded_without_token_401_wrong_token_403_right_token_200(method: str, path: str,
                                                                    admin_headers: dict[str, str]) -> None:
    app, _, _ = build_app()
    with TestClient(app) as client:
        assert client.request(method, path).status_code == 401
        assert client.request(method, path, headers={"Authorization": "Bearer nope"}).status_code == 403
        assert client.request(method, path, headers={"X-Admin-Token": "nope"}).status_code == 403
        assert client.request(method, path, headers=admin_headers).status_code == 200


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_no_configured_token_fails_closed(method: str, path: str) -> None:
    app, _, _ = build_app(OBS_ADMIN_TOKEN=None)
    with TestClient(app) as client:
        assert client.request(method, path, headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_public_flag_opens_them_in_dev(method: str, path: str) -> None:
    app, _, _ = build_app(OBS_METRICS_PUBLIC=True)
    with TestClient(app) as client:
        assert client.request(method, path).status_code == 200


def test_metrics_renders_the_same_meters_the_app_exports(admin_headers: dict[str, str]) -> None:
    app, o, cap = build_app()
    sends = o.meter.create_counter("demo_widgets_sent_total", unit="{widget}")
    sends.add(3, {"kind": "blue"})
    with TestClient(app) as client:
        client.get("/health/live")
        text = client.get("/metrics", headers=admin_headers).text
    assert 'demo_widgets_sent_total{kind="blue"' in text and "} 3.0" in text
    assert 'demo_http_requests_total{method="GET",route="/health/live",status="200"' in text.replace(
        'otel_scope_name="demo-api",otel_scope_schema_url="",otel_scope_version="",', "")
    assert cap.total("demo_widgets_sent_total", kind="blue") == 3


def test_metrics_path_is_configurable(admin_headers: dict[str, str]) -> None:
    app, _, _ = build_app(OBS_METRICS_PATH="/ops/metrics")
    with TestClient(app) as client:
        assert client.get("/ops/metrics", headers=admin_headers).status_code == 200
        assert client.get("/metrics", headers=admin_headers).status_code == 404


def test_rollover_runs_each_hook_as_a_counted_job(admin_headers: dict[str, str]) -> None:
    app, o, cap = build_app()
    calls: list[str] = []

    async def snapshot() -> dict[str, int]:
        calls.append("snapshot")
        return {"boards": 2}

    def broken() -> None:
        raise RuntimeError("disk full")

    o.add_rollover_hook("lb_snapshot", snapshot)
    with TestClient(app) as client:
        reply = client.post("/ops/rollover", headers=admin_headers)
        assert reply.json() == {"status": "ok", "ran": {"lb_snapshot": {"boards": 2}}}
        o.add_rollover_hook("cleanup", broken)
        with pytest.raises(RuntimeError):
            client.post("/ops/rollover", headers=admin_headers)
    assert calls == ["snapshot", "snapshot"]
    assert cap.total("demo_jobs_runs_total", name="lb_snapshot", result="ok") == 2
    assert cap.total("demo_jobs_runs_total", name="cleanup", result="error") == 1
    assert cap.total("demo_jobs_duration_seconds", name="lb_snapshot") == 2
    assert any(s.name == "job lb_snapshot" for s in cap.finished_spans())


def test_trace_test_emits_the_span_it_names(admin_headers: dict[str, str]) -> None:
    app, _, cap = build_app()
    with TestClient(app) as client:
        ids = client.post("/ops/trace/test", headers=admin_headers).json()
    spans = [s for s in cap.finished_spans() if s.name == "ops.trace.test"]
    assert len(spans) == 1
    assert f"{spans[0].context.trace_id:032x}" == ids["trace_id"]
    assert f"{spans[0].context.span_id:016x}" == ids["span_id"]


def test_the_obs_endpoints_are_served_ahead_of_the_apps_routes_without_joining_them() -> None:
    """The app's own requests are never matched against the obs routes; the obs paths still win."""
    from fastapi import FastAPI
    from fastapi.routing import APIRoute

    app, o, cap = build_app()

    @app.get("/health/live")
    def shadow() -> dict[str, str]:
        return {"status": "the app's own"}

    own = {route.path for route in app.router.routes if isinstance(route, APIRoute)}
    assert own & {"/health/ready", "/health/startup", "/metrics", "/ops/rollover", "/ops/trace/test"} == set()
    tags = {route.path: route.tags for route in o.endpoints.routes if isinstance(route, APIRoute)}
    assert tags["/health/live"] == ["health"] and tags["/metrics"] == ["ops"]
    with TestClient(app) as client:
        assert client.get("/health/live").json()["status"] == "ok"
        assert client.get("/metrics").status_code == 401
    # Under a mount, the path the app routes on is matched (and a liveness probe is still not traced).
    outer = FastAPI()
    outer.mount("/api", app)
    with TestClient(outer) as client:
        assert client.get("/api/health/live").json()["status"] == "ok"
    assert cap.finished_spans() == []


@pytest.mark.parametrize("mode", ["lean", "opentelemetry"])
def test_an_obs_endpoint_span_is_named_after_its_route_in_either_mode(mode: str) -> None:
    app, _, cap = build_app(OBS_INSTRUMENTATION=mode)
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
    (server,) = [s for s in cap.finished_spans() if s.kind is SpanKind.SERVER]
    assert server.name == "GET /health/ready" and server.attributes["http.route"] == "/health/ready"
