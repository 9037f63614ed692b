"""POST /integrations/whatsapp/ingest: store, dedupe (Redis, then SQL), extract, decide."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis
import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.ingest.models import Message, OfferRow
from tests.services.ingest.conftest import Ingest, MakeIngest, batch


def _rows(pg_url: str) -> tuple[list[Message], list[OfferRow]]:
    engine = sqlalchemy.create_engine(pg_url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(Message))), list(s.scalars(select(OfferRow)))
    finally:
        engine.dispose()


def test_a_batch_is_stored_with_its_offers_and_a_decision_per_message(ingest: Ingest, pg_url: str) -> None:
    texts = ("Selling Pixel 8 128GB - $520 net", "   ", "MacBook Pro - R$ 1.299,90\niPad x2 - $300")
    response = ingest.post(batch("c1", *texts))

    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    counts = {k: body[k] for k in ("accepted", "created", "skipped", "extracted", "created_chats")}
    assert counts == {"accepted": 3, "created": 2, "skipped": 1, "extracted": 2, "created_chats": 1}
    assert [(d["status"], d["offers"], d["reason"]) for d in body["decisions"]] == [
        ("created", 1, None), ("skipped", 0, "empty_text"), ("created", 2, None)]
    messages, offers = _rows(pg_url)
    assert {m.id for m in messages} == {d["whatsapp_message_id"] for d in body["decisions"] if d["status"] == "created"}
    assert sorted((o.product, o.price, o.currency, o.quantity) for o in offers) == [
        ("MacBook Pro", Decimal("1299.90"), "BRL", None), ("Pixel 8 128GB", Decimal("520.00"), "USD", None),
        ("iPad", Decimal("300.00"), "USD", 2)]


def test_a_repeat_is_deduped_in_redis(ingest: Ingest, redis_url: str) -> None:
    first = ingest.post(batch("c1", "Pixel 8 - $520", "Pixel 9 - $720"))
    second = ingest.post(batch("c1", "Pixel 8 - $520", "Pixel 10 - $920"))

    assert first.json()["created"] == 2
    assert [d["status"] for d in second.json()["decisions"]] == ["deduped", "created"]
    assert second.json()["decisions"][0]["reason"] == "seen_recently"
    prefix = ingest.app.state.ingest.settings.REDIS_KEY_PREFIX
    keys = redis.Redis.from_url(redis_url).keys(f"{prefix}dedupe:c1:*")
    assert len(keys) == 3
    assert 0 < redis.Redis.from_url(redis_url).ttl(keys[0]) <= 7 * 24 * 3600
    assert ingest.totals()["deduped"] == 1


def test_the_sql_store_dedupes_what_redis_forgot(ingest: Ingest, redis_url: str, pg_url: str) -> None:
    ingest.post(batch("c1", "Pixel 8 - $520"))
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys(f"{ingest.app.state.ingest.settings.REDIS_KEY_PREFIX}*"))

    again = ingest.post(batch("c1", "Pixel 8 - $520")).json()

    assert again["decisions"][0] == {**again["decisions"][0], "status": "deduped", "reason": "already_stored"}
    assert len(_rows(pg_url)[0]) == 1


def test_message_ids_decide_identity_when_present(ingest: Ingest) -> None:
    same_id = ingest.post({"client_id": "c1", "messages": [
        {"chat_title": "G", "message_id": "m-1", "text": "Pixel 8 - $520"},
        {"chat_title": "G", "message_id": "m-1", "text": "edited: Pixel 8 - $500"},
        {"chat_title": "G", "message_id": "m-2", "text": "Pixel 8 - $520"},
    ]}).json()

    assert [d["status"] for d in same_id["decisions"]] == ["created", "deduped", "created"]


def test_clients_do_not_dedupe_each_other(ingest: Ingest) -> None:
    assert ingest.post(batch("c1")).json()["created"] == 1
    assert ingest.post(batch("c2")).json()["created"] == 1


def test_a_priced_line_without_product_is_an_extraction_error(ingest: Ingest) -> None:
    body = ingest.post(batch("c1", "$500", "nothing for sale today")).json()

    assert [(d["status"], d["reason"], d["offers"]) for d in body["decisions"]] == [
        ("created", "no_product", 0), ("created", None, 0)]
    totals = ingest.totals()
    assert (totals["created"], totals["extracted"], totals["errors"]) == (2, 0, 1)


def test_an_invalid_payload_is_422_with_a_stable_detail(ingest: Ingest) -> None:
    bad = ingest.post({"client_id": "has spaces", "messages": [{"text": "secret offer"}]})

    assert bad.status_code == 422
    assert bad.json() == {"detail": "Invalid payload"}
    assert ingest.totals()["accepted"] == 0


def test_a_failed_write_releases_the_dedupe_claims(ingest: Ingest, pg_url: str, redis_url: str) -> None:
    engine = sqlalchemy.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE whatsapp_offers"))
    engine.dispose()

    with pytest.raises(sqlalchemy.exc.ProgrammingError):
        ingest.post(batch("c1", "Pixel 8 - $520"))

    prefix = ingest.app.state.ingest.settings.REDIS_KEY_PREFIX
    assert redis.Redis.from_url(redis_url).keys(f"{prefix}dedupe:*") == []
    assert ingest.totals()["created"] == 0


@pytest.mark.parametrize("backing", ["postgres+redis", "sqlite+fakeredis"])
def test_the_in_process_fallback_runs_the_same_code_path(backing: str, make_ingest: MakeIngest,
                                                          request: pytest.FixtureRequest) -> None:
    urls = {}
    if backing == "postgres+redis":
        urls = {"DATABASE_URL": request.getfixturevalue("pg_url"), "REDIS_URL": request.getfixturevalue("redis_url")}
    app = make_ingest(**urls)

    first = app.post(batch("c1", "Pixel 8 - $520", "Pixel 9 - $720")).json()
    second = app.post(batch("c1", "Pixel 8 - $520")).json()

    assert (first["created"], second["deduped"]) == (2, 1)
    engine = app.app.state.ingest.store.engine
    assert engine.dialect.name == ("postgresql" if urls else "sqlite")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(OfferRow)) == 2
    assert app.client.get("/health/ready").json()["checks"]["migrations"] == {"ok": True, "version": "0001",
                                                                              "required": "0001"}
