"""Chat send load on divan-api: 0 → peak users (300 by default), through a LoadTestShape.

    locust -f loadtests/chat_send.py --headless --host http://127.0.0.1:8003 -u 300 -t 2m

Each user sends direct messages (``POST /chat/messages``) to other users of the
run, one every 0.5-1.5 s. The shape ramps linearly from 0 to ``-u`` users
(env LOCUST_USERS; 300 when unset) over the first 60 % of ``-t`` (env
LOCUST_RUN_TIME; 2 minutes when unset) and holds the peak for the rest.
Gates: under 1 % non-2xx and p95 under 150 ms; a breach exits 1 with an
``ALERT:`` stanza. JWT_SECRET must be the service's (tokens are minted here).
"""

from __future__ import annotations

import math
import random
import uuid

from locust import HttpUser, LoadTestShape, between, task

from loadtests import gates
from loadtests.divan_users import new_user, peer_of

DEFAULT_PEAK_USERS = 300
DEFAULT_RUN_TIME_S = 120
RAMP_SHARE = 0.6
SEND = "/chat/messages"
WORDS = ("library", "lunch", "exam", "gym", "at", "the", "see", "you", "later", "notes", "room", "bus", "now")

gates.install("chat send", [
    gates.Gate("non-2xx share", SEND, "POST", "fail_ratio", 0.01),
    gates.Gate("p95", SEND, "POST", "p95_ms", 150),
])


class ChatUser(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.user_id, self.auth = new_user()
        self.rng = random.Random(self.user_id)

    @task
    def send(self) -> None:
        body = " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(3, 12))) + f" #{uuid.uuid4().hex[:8]}"
        with self.client.post(SEND, json={"to_user": peer_of(self.user_id, self.rng), "body": body},
                              headers=self.auth, name=SEND, catch_response=True) as resp:
            if not 200 <= resp.status_code < 300:
                resp.failure(f"HTTP {resp.status_code}")


class ChatRamp(LoadTestShape):
    """0 → peak users over the first 60 % of the run, then the peak until the end."""

    use_common_options = True  # -u is the peak and -t the length

    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options if self.runner else None
        peak = (opts.num_users if opts and opts.num_users else None) or DEFAULT_PEAK_USERS
        length = (opts.run_time if opts and opts.run_time else None) or DEFAULT_RUN_TIME_S
        ramp = max(1.0, length * RAMP_SHARE)
        now = self.get_run_time()
        if now >= length:
            return None
        users = max(1, min(peak, math.ceil(peak * now / ramp)))
        return users, max(1.0, peak / ramp)
