"""Chat: send, delivered and read updates, each counted once; bodies never logged."""

from __future__ import annotations

from tests.services.divan.conftest import Divan
from tests.services.obs.capture import everything_exported

BODY = "see you at the north gate at 7, bring the notes"


def _send(d: Divan, sender: int, to: int, body: str = BODY) -> int:
    resp = d.client.post("/chat/messages", json={"to_user": to, "body": body}, headers=d.auth(sender))
    assert resp.status_code == 201
    return resp.json()["id"]


def test_send_then_delivered_then_read(divan: Divan) -> None:
    mid = _send(divan, 1, 2)
    assert divan.client.post(f"/chat/messages/{mid}/delivered", headers=divan.auth(2)).json()["changed"] is True
    assert divan.client.post(f"/chat/messages/{mid}/read", headers=divan.auth(2)).json()["changed"] is True
    convo = divan.client.get("/chat/messages", params={"with_user": 2}, headers=divan.auth(1)).json()["messages"]
    assert convo == [{"id": mid, "from": 1, "body": BODY, "delivered": True, "read": True}]
    assert divan.cap.total("divan_chat_send_total") == 1
    assert divan.cap.total("divan_chat_delivered_updates_total") == 1
    assert divan.cap.total("divan_chat_read_updates_total") == 1


def test_unread_count_follows_sends_and_reads(divan: Divan) -> None:
    first, second = _send(divan, 1, 2), _send(divan, 3, 2)
    unread = lambda: divan.client.get("/chat/unread", headers=divan.auth(2)).json()["unread"]  # noqa: E731
    assert unread() == 2
    divan.client.post(f"/chat/messages/{first}/read", headers=divan.auth(2))
    divan.client.post(f"/chat/messages/{first}/read", headers=divan.auth(2))
    assert unread() == 1
    divan.client.post(f"/chat/messages/{second}/read", headers=divan.auth(2))
    assert unread() == 0


def test_repeated_acks_change_nothing_and_count_nothing(divan: Divan) -> None:
    mid = _send(divan, 1, 2)
    for _ in range(3):
        divan.client.post(f"/chat/messages/{mid}/delivered", headers=divan.auth(2))
        divan.client.post(f"/chat/messages/{mid}/read", headers=divan.auth(2))
    assert divan.cap.total("divan_chat_delivered_updates_total") == 1
    assert divan.cap.total("divan_chat_read_updates_total") == 1


def test_only_the_recipient_can_ack(divan: Divan) -> None:
    mid = _send(divan, 1, 2)
    assert divan.client.post(f"/chat/messages/{mid}/read", headers=divan.auth(1)).status_code == 404
    assert divan.client.post(f"/chat/messages/{mid}/read", headers=divan.auth(3)).status_code == 404
    assert divan.cap.total("divan_chat_read_updates_total") == 0


def test_the_body_and_token_never_reach_a_span_or_log(divan: Divan) -> None:
    headers = divan.auth(1)
    _send(divan, 1, 2)
    exported = everything_exported(divan.cap)
    assert BODY not in exported
    assert headers["Authorization"].split()[1] not in exported
    # The send is there, as a route, a sanitised INSERT and a log line with the body's length only.
    assert "POST /chat/messages" in exported
    assert "INSERT INTO messages" in exported
    assert f"body_len={len(BODY)}" in exported


def test_concurrent_sends_on_the_default_database_all_succeed(divan: Divan) -> None:
    """Without DATABASE_URL divan keeps its data in SQLite; requests served at once each get
    their own connection, so none fails on another's open statement."""
    import concurrent.futures

    import httpx

    from tests.services.divan.live import serving

    headers = [divan.auth(u) for u in (1, 2, 3, 4)]
    with serving(divan.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        def send(i: int) -> int:
            return client.post("/chat/messages", json={"to_user": 5, "body": f"{BODY} {i}"},
                               headers=headers[i % 4]).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            codes = list(pool.map(send, range(160)))
    assert codes == [201] * 160
    assert divan.client.get("/chat/unread", headers=divan.auth(5)).json()["unread"] == 160
