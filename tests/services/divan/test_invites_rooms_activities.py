"""Invites and friendships, rooms, activities: the domain counters move with the data."""

from __future__ import annotations

from tests.services.divan.conftest import Divan


def test_accepting_an_invite_forms_a_friendship_once(divan: Divan) -> None:
    invite = divan.client.post("/invites", json={"to_user": 2}, headers=divan.auth(1)).json()["id"]
    assert divan.client.post(f"/invites/{invite}/accept", headers=divan.auth(3)).status_code == 404
    assert divan.client.post(f"/invites/{invite}/accept", headers=divan.auth(2)).status_code == 200
    assert divan.client.post(f"/invites/{invite}/accept", headers=divan.auth(2)).status_code == 409
    assert divan.client.post("/invites", json={"to_user": 1}, headers=divan.auth(1)).status_code == 422
    assert divan.cap.total("divan_invites_sent_total") == 1
    assert divan.cap.total("divan_invites_accept_total") == 1
    assert divan.cap.total("divan_friendships_accepted_total") == 1


def test_rooms_create_join_send(divan: Divan) -> None:
    room = divan.client.post("/rooms", json={"name": "algebra"}, headers=divan.auth(1)).json()["id"]
    assert divan.client.post(f"/rooms/{room}/messages", json={"body": "hi"}, headers=divan.auth(2)).status_code == 404
    assert divan.client.post(f"/rooms/{room}/join", headers=divan.auth(2)).json()["joined"] is True
    assert divan.client.post(f"/rooms/{room}/join", headers=divan.auth(2)).json()["joined"] is False
    assert divan.client.post(f"/rooms/{room}/messages", json={"body": "hi"}, headers=divan.auth(2)).status_code == 201
    assert divan.client.post("/rooms/999/join", headers=divan.auth(2)).status_code == 404
    assert divan.cap.total("divan_rooms_created_total") == 1
    assert divan.cap.total("divan_rooms_join_total") == 1
    assert divan.cap.total("divan_rooms_send_total") == 1


def test_activities_are_counted_by_kind_and_completion_scores(divan: Divan) -> None:
    study = divan.client.post("/activities", json={"kind": "study"}, headers=divan.auth(1)).json()["id"]
    divan.client.post("/activities", json={"kind": "sport"}, headers=divan.auth(1))
    assert divan.client.post("/activities", json={"kind": "karaoke"}, headers=divan.auth(1)).status_code == 422
    done = divan.client.post(f"/activities/{study}/complete", headers=divan.auth(1))
    assert done.json() == {"id": study, "lb_processed": 1}
    assert divan.client.post(f"/activities/{study}/complete", headers=divan.auth(1)).status_code == 409
    assert divan.cap.total("divan_activities_created_total", kind="study") == 1
    assert divan.cap.total("divan_activities_created_total", kind="sport") == 1
    assert divan.cap.total("divan_activities_completed_total", kind="study") == 1
    top = divan.client.get("/leaderboard/weekly", headers=divan.auth(1)).json()["top"]
    assert top == [{"user_id": 1, "points": 10}]
