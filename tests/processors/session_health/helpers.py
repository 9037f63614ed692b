"""Building blocks for the session-health tests: a fake clock, OTLP session
events as services emit them (the input contract in processors/session_health/README.md),
and a connector wired to them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from processors.api import CreateSettings, Payload, Signal
from processors.session_health.config import SessionHealthConfig
from processors.session_health.connector import IGNORED_EVENTS, SessionHealthConnector
from processors.session_health.store import MemoryStore, Store
from processors.telemetry import SelfTelemetry
from tests.support.otlp import any_value

T0 = 1_770_292_800.0  # 2026-02-05T12:00:00Z
_RECORD_UIDS = itertools.count(1)


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def record(kind: str, *, ts: float, session: str | None = "s1", tenant: str | None = "t1",
           state: str | None = "connected", attrs: dict[str, Any] | None = None,
           name_as_attribute: bool = False) -> LogRecord:
    """One ``wa.session.<kind>`` record; None leaves an id or the state out.

    Each call makes a distinct record (its own ``log.record.uid``), as two emits of a real SDK differ
    in their observed time; sending one record twice is what a retrying Collector does.
    """
    rec = LogRecord(time_unix_nano=int(round(ts * 1e9)), severity_text="INFO")
    name = kind if "." in kind or kind == "" else f"wa.session.{kind}"
    values: dict[str, Any] = {}
    if name_as_attribute:
        values["event.name"] = name
    else:
        rec.event_name = name
    if session is not None:
        values["wa.session.id"] = session
    if tenant is not None:
        values["tenant.id"] = tenant
    if state is not None:
        values["wa.session.state"] = state
    values.update(attrs or {})
    values.setdefault("log.record.uid", f"rec-{next(_RECORD_UIDS)}")
    rec.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in values.items())
    rec.body.string_value = name
    return rec


def logs_request(*records: LogRecord, resource: dict[str, Any] | None = None) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in (resource or {}).items())
    rl.scope_logs.add().log_records.extend(records)
    return req


def payload(*records: LogRecord, **kw: Any) -> Payload:
    # As the server hands it over: raw bytes, parsed on demand.
    return Payload(Signal.LOGS, raw=logs_request(*records, **kw).SerializeToString())


def make_connector(clock: Callable[[], float] | None = None, *, store: Store | None = None,
                   token: str | None = "secret",
                   telemetry: SelfTelemetry | None = None, **config: Any) -> SessionHealthConnector:
    config.setdefault("api", {"enabled": False})
    config.setdefault("reorder_window_s", 0)  # fold at once; the reorder window has tests of its own
    cfg = SessionHealthConfig.model_validate(config)
    settings = CreateSettings(component_id="session_health", telemetry=telemetry or SelfTelemetry())
    store = store or MemoryStore(max_sessions=cfg.max_sessions)
    return SessionHealthConnector(cfg, settings, store=store, admin_token=token,
                                  clock=clock or FakeClock())


class Session:
    """A session as a service would report it, sending through a connector at the fake clock's time."""

    def __init__(self, conn: SessionHealthConnector, clock: FakeClock, session: str = "s1", tenant: str = "t1",
                 state: str = "connected") -> None:
        self.conn, self.clock, self.id, self.tenant, self.state = conn, clock, session, tenant, state

    async def send(self, kind: str, state: str | None = None, **attrs: Any) -> None:
        if state is not None:
            self.state = state
        await self.conn.export(payload(record(kind, ts=self.clock(), session=self.id, tenant=self.tenant,
                                              state=self.state, attrs=attrs)))

    async def connect(self) -> None:
        await self.send("state_change", "connected")
        await self.send("heartbeat")

    async def alerts(self) -> list[tuple[str, str, str]]:
        view = await self.conn.rollup.session(self.id)
        assert view is not None
        return [(a.level, a.code, a.message) for a in view.alerts]


def ignored(conn: SessionHealthConnector, reason: str) -> float:
    return conn.settings.telemetry.value(f"{IGNORED_EVENTS}_total", component=conn.id, reason=reason)
