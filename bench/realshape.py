"""Requests shaped like what the services/ apps emit through the ``obs`` SDK.

A FastAPI request becomes a server span (route, method, path with ids in it,
a query string half the time, the user agent, the client address, a request
id), the SQLAlchemy statements it runs (ORM statements with bound-parameter
placeholders, and some raw ones with literals), a Redis command or two, and
an outgoing HTTPX call (a full URL, often with a query). Every span carries
about 20 attributes, as those instrumentations write them, and every id,
path and literal is drawn fresh: nothing repeats the way a small synthetic
value pool would, so verdict caches only help where real traffic repeats
(routes, statements with placeholders, hosts).

Two mixes: ``pii`` is the fraction of spans (or log records) that carry
personal data on top (an email, a phone number, a token, a card in free
text); ``pii=1.0`` makes every one dirty. URL queries and SQL literals are
part of the shape, not of the PII share: the sanitisers rewrite them in
either mix.
"""

from __future__ import annotations

import random
import uuid

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

N_ITEMS = 512

_SERVICES = {
    "ingest": ["/v1/events", "/v1/events/{event_id}", "/v1/batches/{batch_id}/status", "/healthz"],
    "session": ["/sessions/{session_id}", "/sessions/{session_id}/observe", "/sessions/{session_id}/qr"],
    "divan": ["/api/orders", "/api/orders/{order_id}", "/api/customers/{customer_id}/orders", "/api/items"],
}
_METHODS = ["GET"] * 6 + ["POST"] * 3 + ["PUT", "DELETE"]
_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.{b}.{p} Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E{b}",
    "python-httpx/0.{v}.{p}", "okhttp/4.{v}.{p}", "WhatsApp/2.24.{v}.{p} A", "curl/8.{v}.{p}",
]
_QUERY_KEYS = ["page", "limit", "sort", "status", "cursor", "since", "fields", "lang", "include"]
_TABLES = ["orders", "order_items", "customers", "sessions", "events", "batches", "credentials"]
_COLUMNS = ["id", "status", "created_at", "updated_at", "tenant_id", "total_cents", "currency", "version"]
_LOG_TEMPLATES = [
    "order {id} created for tenant {tenant} in {ms} ms",
    "session {sid} heartbeat ok after {ms} ms",
    "batch {id} accepted: {n} events, {ms} ms",
    "cache miss for {sid}, loading from postgres",
    "reconnect attempt {n} for session {sid}",
    "upstream call to divan returned {status} in {ms} ms",
    "GET /api/orders/{id} 200 {ms}ms",
]


def _kv(key: str, value: str | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


class Shape:
    """One generator: a seeded stream of fresh ids and values."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    # --- values -----------------------------------------------------------------

    def hex(self, n: int) -> str:
        return self.rnd.randbytes(n).hex()

    def uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rnd.randbytes(16), version=4))

    def agent(self) -> str:
        r = self.rnd
        return r.choice(_AGENTS).format(v=r.randrange(1, 130), b=r.randrange(1000, 9999), p=r.randrange(10, 200))

    def path(self, route: str) -> str:
        r = self.rnd
        return (route.replace("{event_id}", self.uuid()).replace("{batch_id}", f"b_{self.hex(6)}")
                .replace("{session_id}", f"s-{self.hex(8)}").replace("{order_id}", str(r.randrange(10**5, 10**7)))
                .replace("{customer_id}", f"c{r.randrange(10**6)}"))

    def query(self) -> str:
        keys = self.rnd.sample(_QUERY_KEYS, self.rnd.randrange(1, 4))
        return "&".join(f"{k}={self.rnd.choice([str(self.rnd.randrange(1, 500)), 'asc', 'paid', self.hex(4)])}"
                        for k in keys)

    def sql(self) -> tuple[str, str]:
        """(operation, statement): ORM statements bind parameters; a third are raw with literals."""
        r = self.rnd
        table = r.choice(_TABLES)
        cols = ", ".join(f"{table}.{c}" for c in r.sample(_COLUMNS, r.randrange(3, 7)))
        if r.random() < 0.67:
            op = r.choice(["SELECT", "SELECT", "UPDATE", "INSERT"])
            if op == "SELECT":
                stmt = (f"SELECT {cols} \nFROM {table} \nWHERE {table}.tenant_id = %(tenant_id_1)s "
                        f"AND {table}.id = %(id_1)s \nLIMIT %(param_1)s")
            elif op == "UPDATE":
                stmt = f"UPDATE {table} SET status=%(status)s, updated_at=now() WHERE {table}.id = %(id_1)s"
            else:
                stmt = f"INSERT INTO {table} (id, tenant_id, status) VALUES (%(id)s, %(tenant_id)s, %(status)s)"
            return op, stmt
        status = r.choice(["paid", "open", "failed", "CONNECTED"])
        return "SELECT", (f"SELECT {cols} FROM {table} WHERE {table}.status = '{status}' "
                          f"AND {table}.created_at > now() - interval '{r.randrange(1, 90)} days' "
                          f"ORDER BY {table}.id DESC LIMIT {r.randrange(10, 200)}")

    def pii(self) -> tuple[str, str]:
        """One attribute carrying personal data or a secret."""
        r = self.rnd
        return r.choice([
            ("enduser.id", f"{self.hex(3)}.{r.choice(['anna', 'jonas', 'mia'])}@example.org"),
            ("user.phone", f"+49 151 {r.randrange(10**7, 10**8)}"),
            ("http.request.header.x-forwarded-for", ".".join(str(r.randrange(11, 223)) for _ in range(4))),
            ("http.request.header.authorization", f"Bearer {self.hex(24)}"),
            ("app.note", f"paid with 4111 1111 1111 1111 by order {r.randrange(10**6)}"),
            ("messaging.destination", f"{r.randrange(10**10, 10**11)}@s.whatsapp.net"),
        ])

    # --- spans ------------------------------------------------------------------

    def _common(self, sp: Span, name: str, kind: int, trace_id: bytes, parent: bytes, t0: int) -> None:
        sp.trace_id, sp.span_id, sp.parent_span_id = trace_id, self.rnd.randbytes(8), parent
        sp.name, sp.kind = name, kind
        sp.start_time_unix_nano = t0
        sp.end_time_unix_nano = t0 + self.rnd.randrange(100_000, 90_000_000)
        sp.flags = 0x100

    def server_span(self, sp: Span, service: str, trace_id: bytes, t0: int) -> None:
        r = self.rnd
        route = r.choice(_SERVICES[service])
        method = r.choice(_METHODS)
        self._common(sp, f"{method} {route}", Span.SPAN_KIND_SERVER, trace_id, b"", t0)
        status = r.choice([200] * 12 + [201, 204, 400, 404, 500])
        attrs = [
            ("http.request.method", method), ("url.scheme", "http"), ("url.path", self.path(route)),
            ("http.route", route), ("http.response.status_code", status),
            ("server.address", f"{service}.otelpipe.svc"), ("server.port", 8000 + list(_SERVICES).index(service) + 1),
            ("network.protocol.version", "1.1"), ("network.peer.address", "127.0.0.1"),
            ("network.peer.port", r.randrange(30000, 65000)), ("client.address", "127.0.0.1"),
            ("client.port", r.randrange(30000, 65000)), ("user_agent.original", self.agent()),
            ("http.request_id", self.uuid()), ("http.request.body.size", r.randrange(0, 4096)),
            ("http.response.body.size", r.randrange(2, 65536)), ("tenant.id", f"t-{r.randrange(1, 40)}"),
            ("code.function", f"{route.strip('/').split('/')[0] or 'root'}_{method.lower()}"),
            ("code.namespace", f"services.{service}.app"), ("thread.id", r.randrange(1, 2**31)),
        ]
        if r.random() < 0.5:
            attrs.append(("url.query", self.query()))
        sp.attributes.extend(_kv(k, v) for k, v in attrs)
        if status >= 500:
            sp.status.code = Status.STATUS_CODE_ERROR
            sp.status.message = "Internal Server Error"

    def db_span(self, sp: Span, service: str, trace_id: bytes, parent: bytes, t0: int) -> None:
        r = self.rnd
        op, stmt = self.sql()
        table = stmt.split(" FROM ")[-1].split()[0] if " FROM " in stmt else stmt.split()[2]
        self._common(sp, f"{op} {service}", Span.SPAN_KIND_CLIENT, trace_id, parent, t0)
        attrs = [
            ("db.system", "postgresql"), ("db.system.name", "postgresql"), ("db.name", service),
            ("db.namespace", service), ("db.user", f"{service}_app"), ("db.statement", stmt),
            ("db.operation", op), ("db.operation.name", op), ("db.collection.name", table.split(".")[-1]),
            ("server.address", "postgres.otelpipe.svc"), ("server.port", 5432),
            ("net.peer.name", "postgres.otelpipe.svc"), ("net.peer.port", 5432),
            ("network.peer.address", "127.0.0.1"), ("network.transport", "tcp"),
            ("db.client.connection.pool.name", f"{service}-pool"), ("db.response.returned_rows", r.randrange(0, 200)),
            ("code.function", f"{op.lower()}_{table.split('.')[-1]}"), ("code.lineno", r.randrange(20, 900)),
            ("code.filepath", f"/app/services/{service}/store.py"), ("thread.id", r.randrange(1, 2**31)),
        ]
        sp.attributes.extend(_kv(k, v) for k, v in attrs)

    def redis_span(self, sp: Span, trace_id: bytes, parent: bytes, t0: int) -> None:
        r = self.rnd
        cmd = r.choice(["GET", "SET", "EXPIRE", "HGETALL"])
        self._common(sp, cmd, Span.SPAN_KIND_CLIENT, trace_id, parent, t0)
        attrs = [
            ("db.system", "redis"), ("db.system.name", "redis"), ("db.statement", f"{cmd} ?"),
            ("db.operation.name", cmd), ("db.redis.database_index", 0), ("db.redis.args_length", r.randrange(2, 4)),
            ("server.address", "redis.otelpipe.svc"), ("server.port", 6379), ("net.peer.name", "redis.otelpipe.svc"),
            ("net.peer.port", 6379), ("network.peer.address", "127.0.0.1"), ("network.peer.port", 6379),
            ("network.transport", "tcp"), ("db.namespace", "0"), ("code.function", "cached"),
            ("code.namespace", "services.common.stores"), ("session.key", f"sess:{self.hex(8)}"),
            ("cache.hit", r.random() < 0.7), ("thread.id", r.randrange(1, 2**31)),
        ]
        sp.attributes.extend(_kv(k, v) for k, v in attrs)

    def client_span(self, sp: Span, trace_id: bytes, parent: bytes, t0: int) -> None:
        r = self.rnd
        host, route = r.choice([("divan.otelpipe.svc:8003", "/api/orders"), ("ingest.otelpipe.svc:8001", "/v1/events"),
                                ("graph.example.com", "/v19.0/messages")])
        url = f"http://{host}{route}/{r.randrange(10**6)}"
        if r.random() < 0.7:
            url += "?" + self.query()
        method = r.choice(_METHODS)
        self._common(sp, method, Span.SPAN_KIND_CLIENT, trace_id, parent, t0)
        attrs = [
            ("http.request.method", method), ("url.full", url), ("server.address", host.split(":")[0]),
            ("server.port", int(host.split(":")[1]) if ":" in host else 443), ("http.response.status_code", 200),
            ("network.protocol.version", "1.1"), ("network.peer.address", "127.0.0.1"),
            ("network.peer.port", r.randrange(1000, 9000)),
            ("user_agent.original", f"python-httpx/0.{r.randrange(20, 28)}.0"),
            ("http.request.header.content-type", "application/json"), ("http.request.resend_count", 0),
            ("http.response.body.size", r.randrange(2, 65536)), ("http.request.body.size", r.randrange(0, 4096)),
            ("code.function", "call_upstream"), ("code.namespace", "services.common.http"),
            ("peer.service", host.split(".")[0]), ("retry.attempt", 0), ("upstream.request_id", self.uuid()),
            ("thread.id", r.randrange(1, 2**31)),
        ]
        sp.attributes.extend(_kv(k, v) for k, v in attrs)


def _resource(attributes, service: str, shape: Shape) -> None:
    for k, v in (("service.name", service), ("service.namespace", "otelpipe"), ("service.version", "1.4.2"),
                 ("service.instance.id", shape.uuid()), ("deployment.environment.name", "staging"),
                 ("host.name", f"{service}-{shape.hex(4)}"), ("process.pid", shape.rnd.randrange(2, 60000)),
                 ("process.runtime.name", "cpython"), ("process.runtime.version", "3.12.3"),
                 ("telemetry.sdk.name", "opentelemetry"), ("telemetry.sdk.language", "python"),
                 ("telemetry.sdk.version", "1.27.0")):
        attributes.append(_kv(k, v))


def spans(pii: float, *, n: int = N_ITEMS, seed: int = 1) -> ExportTraceServiceRequest:
    """``n`` spans of whole FastAPI requests (server, SQL, Redis, HTTP client spans), as one
    service's batch exporter sends them: one resource, one scope per instrumentation."""
    shape = Shape(seed)
    r = shape.rnd
    service = r.choice(list(_SERVICES))
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.27.0")
    _resource(rs.resource.attributes, service, shape)
    scopes = {name: rs.scope_spans.add() for name in ("fastapi", "sqlalchemy", "redis", "httpx")}
    for name, ss in scopes.items():
        ss.scope.name = f"opentelemetry.instrumentation.{name}"
        ss.scope.version = "0.48b0"
    made = 0
    t0 = 1_700_000_000_000_000_000
    while made < n:
        trace_id = r.randbytes(16)
        server = scopes["fastapi"].spans.add()
        shape.server_span(server, service, trace_id, t0)
        children = [("sqlalchemy", shape.db_span)] * r.randrange(1, 4)
        children += [("redis", shape.redis_span)] * r.randrange(0, 2)
        children += [("httpx", shape.client_span)] * (r.random() < 0.4)
        made += 1
        for scope, build in children:
            if made == n:
                break
            sp = scopes[scope].spans.add()
            if scope == "sqlalchemy":
                build(sp, service, trace_id, server.span_id, t0)
            else:
                build(sp, trace_id, server.span_id, t0)
            made += 1
        t0 += r.randrange(10**5, 10**8)
    every = [sp for ss in rs.scope_spans for sp in ss.spans]
    for sp in every:
        if r.random() < pii:
            key, value = shape.pii()
            sp.attributes.append(_kv(key, value))
    return req


def logs(pii: float, *, n: int = N_ITEMS, seed: int = 2) -> ExportLogsServiceRequest:
    """Records as the services' logging handler emits them: a formatted message, the logger,
    code location, request and session ids; ``pii`` of them carry an address, a number or a
    statement with literals in the message."""
    shape = Shape(seed)
    r = shape.rnd
    service = r.choice(list(_SERVICES))
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add(schema_url="https://opentelemetry.io/schemas/1.27.0")
    _resource(rl.resource.attributes, service, shape)
    sl = rl.scope_logs.add()
    sl.scope.name = f"services.{service}"
    for i in range(n):
        severity, number = r.choice([("INFO", 9)] * 8 + [("WARNING", 13), ("ERROR", 17), ("DEBUG", 5)])
        rec = sl.log_records.add(time_unix_nano=1_700_000_000_000_000_000 + i * 997_000, severity_text=severity,
                                 severity_number=number, trace_id=r.randbytes(16), span_id=r.randbytes(8), flags=1)
        rec.observed_time_unix_nano = rec.time_unix_nano + 12_000
        rec.body.string_value = r.choice(_LOG_TEMPLATES).format(
            id=r.randrange(10**5, 10**7), tenant=f"t-{r.randrange(1, 40)}", ms=r.randrange(1, 900),
            sid=f"s-{shape.hex(8)}", n=r.randrange(1, 20), status=r.choice([200, 201, 404, 503]))
        for k, v in (("logger.name", f"services.{service}.{r.choice(['app', 'store', 'worker'])}"),
                     ("code.filepath", f"/app/services/{service}/app.py"),
                     ("code.function", r.choice(["handle", "observe", "flush"])),
                     ("code.lineno", r.randrange(20, 900)),
                     ("thread.name", r.choice(["MainThread", "AnyIO worker thread"])),
                     ("process.pid", 4242), ("http.request_id", shape.uuid()), ("tenant.id", f"t-{r.randrange(1, 40)}"),
                     ("wa.session.id", f"s-{shape.hex(8)}"), ("http.route", r.choice(_SERVICES[service]))):
            rec.attributes.append(_kv(k, v))
        if r.random() < pii:
            kind = r.randrange(3)
            if kind == 0:
                rec.body.string_value += f" for {shape.pii()[1]}"
            elif kind == 1:
                rec.body.string_value = f"slow query: {shape.sql()[1]}"
            else:
                rec.attributes.append(_kv(*shape.pii()))
    return req
