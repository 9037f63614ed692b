"""Proximity load on divan-api: a constant rate of nearby queries (200/s by default).

    locust -f loadtests/proximity_nearby.py --headless --host http://127.0.0.1:8003 -u 50 -t 2m --target-rps 200

Each user sends one presence heartbeat at a position of its own on the campus,
then ``GET /proximity/nearby`` around positions near it at every allowed
radius. ``constant_throughput`` paces each user at ``--target-rps`` / ``-u``
(env LOCUST_TARGET_RPS, LOCUST_USERS), so the total holds the target as long
as each user's response time stays under its pacing interval. Gate: p95 under
120 ms (the heartbeats are not gated); a breach exits 1 with an ``ALERT:``
stanza. JWT_SECRET must be the service's (tokens are minted here).
"""

from __future__ import annotations

import random
from typing import Any

from locust import HttpUser, constant_throughput, events, task

from loadtests import gates
from loadtests.divan_users import new_user

DEFAULT_TARGET_RPS = 200.0
NEARBY = "/proximity/nearby"
RADII_M = (100, 250, 500, 1000, 2000)
# Around a campus point; ±0.005° is a few hundred metres.
CENTRE = (41.0082, 28.9784)

gates.install("proximity nearby", [gates.Gate("p95", NEARBY, "GET", "p95_ms", 120)])


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--target-rps", type=float, default=DEFAULT_TARGET_RPS, env_var="LOCUST_TARGET_RPS",
                        help="nearby queries per second over all users (default 200)")
    parser.add_argument("--campus", default="main", env_var="LOCUST_CAMPUS", help="campus id (default main)")


@events.init.add_listener
def _pace(environment: Any, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is not None:
        users = max(1, opts.num_users or 1)
        NearbyUser.wait_time = constant_throughput(opts.target_rps / users)


class NearbyUser(HttpUser):
    wait_time = constant_throughput(DEFAULT_TARGET_RPS)

    def on_start(self) -> None:
        self.user_id, self.auth = new_user()
        self.rng = random.Random(self.user_id)
        opts = self.environment.parsed_options
        self.campus = opts.campus if opts is not None else "main"
        self.home = (CENTRE[0] + self.rng.uniform(-0.005, 0.005), CENTRE[1] + self.rng.uniform(-0.005, 0.005))
        self.client.post("/presence/heartbeat", json={"campus_id": self.campus, "lat": self.home[0],
                                                      "lon": self.home[1]}, headers=self.auth)

    @task
    def nearby(self) -> None:
        params = {"campus_id": self.campus, "lat": round(self.home[0] + self.rng.uniform(-0.001, 0.001), 6),
                  "lon": round(self.home[1] + self.rng.uniform(-0.001, 0.001), 6), "radius": self.rng.choice(RADII_M)}
        with self.client.get(NEARBY, params=params, headers=self.auth, name=NEARBY, catch_response=True) as resp:
            if not 200 <= resp.status_code < 300:
                resp.failure(f"HTTP {resp.status_code}")
