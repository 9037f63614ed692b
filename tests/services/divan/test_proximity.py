"""Nearby: Redis GEOSEARCH around a point, online users only, distances rounded."""

from __future__ import annotations

from tests.services.divan.conftest import Divan

# About 100 m and 900 m north of the origin.
ORIGIN = (41.0, 29.0)


def _beat(d: Divan, user: int, lat: float, lon: float, campus: str = "main") -> None:
    assert d.client.post("/presence/heartbeat", json={"campus_id": campus, "lat": lat, "lon": lon},
                         headers=d.auth(user)).status_code == 202


def _nearby(d: Divan, user: int, radius: int, campus: str = "main"):
    return d.client.get("/proximity/nearby", headers=d.auth(user),
                        params={"campus_id": campus, "lat": ORIGIN[0], "lon": ORIGIN[1], "radius": radius})


def test_nearby_lists_online_users_within_the_radius_closest_first(divan: Divan) -> None:
    _beat(divan, 1, *ORIGIN)
    _beat(divan, 2, 41.0009, 29.0)   # ~100 m
    _beat(divan, 3, 41.0081, 29.0)   # ~900 m
    _beat(divan, 4, 41.0009, 29.0, campus="north")
    near = _nearby(divan, 1, 250).json()["nearby"]
    assert [u["user_id"] for u in near] == [2]
    assert near[0]["distance_m"] % 10 == 0 and 90 <= near[0]["distance_m"] <= 110
    assert [u["user_id"] for u in _nearby(divan, 1, 1000).json()["nearby"]] == [2, 3]


def test_users_whose_presence_expired_are_not_listed(divan: Divan) -> None:
    _beat(divan, 2, 41.0009, 29.0)
    divan.state.redis.delete("presence:user:2")
    assert _nearby(divan, 1, 500).json()["nearby"] == []


def test_queries_are_counted_by_radius_and_odd_radii_refused(divan: Divan) -> None:
    _nearby(divan, 1, 500)
    _nearby(divan, 1, 500)
    _nearby(divan, 1, 100)
    assert _nearby(divan, 1, 333).status_code == 422
    assert divan.cap.total("divan_proximity_queries_total", radius="500") == 2
    assert divan.cap.total("divan_proximity_queries_total", radius="100") == 1
    assert divan.cap.total("divan_proximity_queries_total") == 3


def test_coordinates_of_the_query_stay_out_of_spans_and_logs(divan: Divan) -> None:
    from tests.services.obs.capture import everything_exported

    divan.client.get("/proximity/nearby", headers=divan.auth(1),
                     params={"campus_id": "main", "lat": 41.012345, "lon": 29.054321, "radius": 500})
    exported = everything_exported(divan.cap)
    assert "41.012345" not in exported and "29.054321" not in exported
    assert "/proximity/nearby" in exported
