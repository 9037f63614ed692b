"""The lean server span's request attributes against the ASGI instrumentation's ``collect_request_attributes``.

Generated ASGI scopes (hosts with ports and userinfo, IPv6, repeated and
missing headers, upper-case and non-UTF-8 header bytes, queries with escapes
and redacted parameters, unknown methods, absent fields) under every HTTP
convention choice: the same dict, or the same exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.asgi import collect_request_attributes

from services.obs.server_span import RequestAttributes
from services.obs.upstream_internals import StabilityMode

MODES = [StabilityMode.DEFAULT, StabilityMode.HTTP, StabilityMode.HTTP_DUP]

_hosts = st.sampled_from([b"127.0.0.1:8000", b"example.com", b"u:p@example.com", b"[::1]:9000", b"", b"h\xc3\xa9",
                          b"h\xff", b"a/b?c", b"host:80"])
_agents = st.sampled_from([b"python-httpx/0.28", b"Mozilla/5.0 (compatible; Googlebot/2.1)", b"AlwaysOn probe",
                           b"", b"ua \xff"])
_other = st.tuples(st.sampled_from([b"accept", b"x-request-id", b"cookie", b"hostname", b"user-agents"]),
                   st.binary(max_size=8))


@st.composite
def _headers(draw: Any) -> list[tuple[bytes, bytes]]:
    headers = draw(st.lists(st.one_of(
        st.tuples(st.sampled_from([b"host", b"Host", b"HOST"]), _hosts),
        st.tuples(st.sampled_from([b"user-agent", b"User-Agent"]), _agents),
        _other), max_size=6))
    return headers


def _optional(key: str, values: Any) -> Any:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


@st.composite
def scopes(draw: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "http"}
    for part in (
        _optional("scheme", st.sampled_from(["http", "https", "ws", ""])),
        _optional("server", st.sampled_from([("127.0.0.1", 8000), ["10.0.0.1", 80], ("::1", 443), ("h", "80"),
                                             None])),
        _optional("http_version", st.sampled_from(["1.1", "2", "1.0", ""])),
        _optional("path", st.sampled_from(["/rooms/1", "/", "", "/a b/é", "/x?y", "/api/things/9"])),
        _optional("query_string", st.sampled_from([b"", b"q=1", b"token=s3cr3t&x=%2F", b"a=%ZZ", "s=1", None])),
        _optional("method", st.sampled_from(["GET", "get", "PURGE", " POST ", "QUERY", ""])),
        _optional("client", st.sampled_from([("127.0.0.1", 51234), ["10.1.2.3", "9"], ("", 0), ("h", "x"),
                                             None])),
        _optional("headers", _headers()),
    ):
        scope.update(draw(part))
    return scope


def _outcome(call: Any) -> Any:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the same exception type is the expected outcome
        return type(exc)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scope=st.lists(scopes(), min_size=1, max_size=4))
def test_the_same_attributes_as_the_asgi_instrumentation(mode: Any, scope: list[dict[str, Any]]) -> None:
    collect = RequestAttributes(mode)  # several scopes in a row: the cache must not carry one into another
    for one in scope:
        assert _outcome(lambda: collect(one)) == _outcome(lambda: collect_request_attributes(one, mode)), one  # noqa: B023 - called at once


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_each_call_returns_a_dict_of_its_own(mode: Any) -> None:
    collect = RequestAttributes(mode)
    scope = {"type": "http", "scheme": "http", "server": ("127.0.0.1", 8000), "path": "/a", "method": "GET",
             "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 1)}
    first = collect(scope)
    first["http.request_id"] = "x"
    assert collect(scope) == collect_request_attributes(scope, mode)


def test_the_capture_all_methods_switch_is_read_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    collect = RequestAttributes(StabilityMode.HTTP)
    scope = {"type": "http", "method": "PURGE", "path": "/"}
    assert collect(scope)["http.request.method"] == "_OTHER"
    monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS", "true")
    assert collect(scope)["http.request.method"] == "PURGE"
