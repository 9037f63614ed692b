"""Lean SQL spans: one CLIENT span per statement sent to the driver, named like the upstream instrumentation's."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError

from services.obs.sql_spans import operation, trace_sql
from tests.support.servers import PostgresServer


def test_every_statement_is_a_span_with_the_engine_attributes(tmp_path: Path, traced) -> None:
    tracer, spans = traced
    engine = trace_sql(create_engine(f"sqlite:///{tmp_path / 'app.db'}"), tracer)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE)"))
        conn.execute(text("INSERT INTO t (email) VALUES (:e)"), [{"e": "a@x.io"}, {"e": "b@x.io"}])  # executemany
        conn.exec_driver_sql("SELECT count(*) FROM t")  # no parameters
    names = [s.name for s in spans.get_finished_spans()]
    db = str(tmp_path / "app.db")
    assert names[-3:] == [f"CREATE {db}", f"INSERT {db}", f"SELECT {db}"]
    insert = spans.get_finished_spans()[-2]
    assert insert.kind is SpanKind.CLIENT
    assert dict(insert.attributes) == {"db.system": "sqlite", "db.name": db, "db.operation": "INSERT",
                                       "db.statement": "INSERT INTO t (email) VALUES (?)"}
    # Only statements reach the cursor wrapper; the engine has no cursor-event listeners, so it keeps its fast path.
    assert not event.contains(engine, "before_cursor_execute", lambda *a: None)


def test_a_failed_statement_is_marked_without_the_drivers_message(postgres_srv: PostgresServer, traced) -> None:
    tracer, spans = traced
    engine = trace_sql(create_engine(postgres_srv.url), tracer)
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE u (email TEXT PRIMARY KEY)"))
        conn.execute(text("INSERT INTO u VALUES ('ada@example.com')"))
        with pytest.raises(IntegrityError):
            conn.execute(text("INSERT INTO u VALUES ('ada@example.com')"))
    failed = [s for s in spans.get_finished_spans() if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1 and failed[0].attributes["error.type"] == "UniqueViolation"
    assert "ada@example.com" not in str(failed[0].status.description) and failed[0].events == ()
    assert failed[0].attributes["net.peer.port"] == postgres_srv.port


def test_a_second_call_traces_once(tmp_path: Path, traced) -> None:
    tracer, spans = traced
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    trace_sql(trace_sql(engine, tracer), tracer)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert len([s for s in spans.get_finished_spans() if s.attributes["db.statement"] == "SELECT 1"]) == 1


@pytest.mark.parametrize(("statement", "op"), [
    ("SELECT 1", "SELECT"), ("  insert into t values (1)", "insert"), ("/* app:7 */ UPDATE t SET a = 1", "UPDATE"),
    ("/* a */ /* b */DELETE FROM t", "DELETE"), ("/* never closed", ""), ("", ""),
])
def test_the_operation_is_the_first_word_past_leading_comments(statement: str, op: str) -> None:
    assert operation(statement) == op


def test_an_async_engine_is_traced_under_the_callers_span(postgres_srv: PostgresServer, traced) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    tracer, spans = traced
    engine = trace_sql(create_async_engine(postgres_srv.url.replace("+psycopg", "+psycopg_async")), tracer)

    async def run() -> None:
        with tracer.start_as_current_span("handler"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 42"))
        await engine.dispose()

    asyncio.run(run())
    handler = next(s for s in spans.get_finished_spans() if s.name == "handler")
    (query,) = [s for s in spans.get_finished_spans() if s.attributes.get("db.statement") == "SELECT 42"]
    assert query.name == "SELECT postgres" and query.parent.span_id == handler.context.span_id
