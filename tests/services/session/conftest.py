"""Fixtures: real PostgreSQL and Redis per test, an OTel logs bridge capturing
session events in memory, machines on a manual clock, and the session app."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from sqlalchemy.engine import Engine

from services.common import stores
from services.session import db
from services.session.app import create_app
from services.session.clock import ManualClock
from services.session.credentials import CredentialStore
from services.session.events import SessionEvents
from services.session.lock import SessionLock
from services.session.machine import Policy, SessionMachine
from services.session.settings import SessionSettings
from services.session.simulator import Simulator
from services.session.transport import SimulatedTransport
from tests.support.otel import ServiceApp, StartApp, obs_settings

TENANT = "tenant-a"


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = db.make_engine(pg_url)
    db.MIGRATIONS.upgrade(eng)
    yield eng
    stores.dispose_engine(eng)


@dataclass
class Captured:
    """Session events as the OTel SDK's in-memory exporter received them through the logs bridge."""

    logger: logging.Logger
    provider: LoggerProvider
    exporter: InMemoryLogRecordExporter

    def records(self) -> list[Any]:
        return [d.log_record for d in self.exporter.get_finished_logs()]

    def names(self) -> list[str]:
        return [r.event_name for r in self.records()]

    def trail(self) -> list[tuple[str, str]]:
        """(event, state) of each record, in order."""
        return [(r.event_name, r.attributes["wa.session.state"]) for r in self.records()]

    def of(self, event: str) -> list[Any]:
        return [r for r in self.records() if r.event_name == event]

    def clear(self) -> None:
        self.exporter.clear()

    def otlp_request(self) -> ExportLogsServiceRequest:
        """What an OTLP exporter would send for the captured records."""
        return encode_logs(self.exporter.get_finished_logs())


@pytest.fixture
def captured() -> Iterator[Captured]:
    provider = LoggerProvider()
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"test.session.events.{uuid.uuid4().hex[:8]}")
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield Captured(logger, provider, exporter)
    logger.removeHandler(handler)
    provider.shutdown()


@dataclass
class Rig:
    machine: SessionMachine
    transport: SimulatedTransport
    clock: ManualClock
    sim: Simulator
    credentials: CredentialStore
    lock: SessionLock


MakeRig = Callable[..., Rig]


@pytest.fixture
def make_rig(engine: Engine, redis_url: str, captured: Captured) -> MakeRig:
    prefix = f"t{uuid.uuid4().hex[:8]}:"

    def make(session_id: str = "sess-1", *, holder: str = "replica-a", policy: Policy | None = None) -> Rig:
        clock = ManualClock()
        transport = SimulatedTransport(clock)
        credentials = CredentialStore(engine)
        lock = SessionLock(redis.Redis.from_url(redis_url, decode_responses=True), prefix=prefix, holder=holder)
        machine = SessionMachine(events=SessionEvents(captured.logger, session_id=session_id, tenant_id=TENANT),
                                 transport=transport, credentials=credentials, lock=lock, clock=clock, policy=policy)
        return Rig(machine, transport, clock, Simulator(machine, transport, clock, credentials=credentials),
                   credentials, lock)

    return make


@dataclass
class SessionService(ServiceApp):
    def events(self) -> list[Any]:
        records = [d.log_record for d in self.logs.get_finished_logs()]
        return [r for r in records if (r.event_name or "").startswith("wa.session.")]


MakeService = Callable[..., SessionService]


@pytest.fixture
def make_service(start_app: StartApp) -> MakeService:
    def make(*, obs_overrides: dict[str, Any] | None = None, **overrides: Any) -> SessionService:
        values: dict[str, Any] = {"SESSION_TICK_INTERVAL_S": 0, "REDIS_KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}:",
                                  "ENV": "test", "SESSION_TENANT_ID": TENANT}
        values.update(overrides)
        app = create_app(SessionSettings(**values), obs_settings=obs_settings(**(obs_overrides or {})))
        return start_app(app, SessionService)

    return make


@pytest.fixture
def service(make_service: MakeService, pg_url: str, redis_url: str) -> SessionService:
    return make_service(DATABASE_URL=pg_url, REDIS_URL=redis_url)
