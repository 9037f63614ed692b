"""A small traffic driver for the ingest and session services (``make run``).

Each round sends what a day of collectors and sessions looks like, so that
every specified metric moves: a heartbeat with the collector's connection status
(and a second collector that stays ``connecting``), offer batches with repeats and empty messages,
media with a repeated file, one unauthenticated and one badly signed request,
optionally a burst past the rate limit; and a scripted session story
(heartbeat loss, a breaker trip and recovery, damaged credentials) followed by
a read of the fleet health through the backend proxy.

    python -m services.drive --ingest-url http://127.0.0.1:8001 \\
        --session-url http://127.0.0.1:8002 --rounds 10 --interval 2

Secrets come from the environment (WHATSAPP_INGEST_TOKEN,
WHATSAPP_HMAC_SECRET, OBS_ADMIN_TOKEN), never from the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

PRODUCTS = ("Pixel 8 128GB", "Galaxy S23", "iPhone 13", "MacBook Pro 14", "AirPods Pro", "Surface Laptop 5",
            "Dell XPS 13", "iPad Air", "Kindle Paperwhite", "Switch OLED")
CURRENCIES = ("$", "€", "R$ ", "£")
SESSION_STORIES = ("heartbeat_loss", "recovery", "corruption", "validation_failure")


def _sign(secret: str, body: bytes) -> dict[str, str]:
    timestamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Signature": signature, "X-Signature-Timestamp": timestamp}


def offer_text(rng: random.Random) -> str:
    lines = [f"{rng.choice(PRODUCTS)} - {rng.choice(CURRENCIES)}{rng.randint(20, 2500)}"
             for _ in range(rng.randint(1, 3))]
    return "\n".join(lines)


class IngestDriver:
    """Ingest traffic for one collector ``client_id``; ``round()`` returns status codes by count."""

    def __init__(self, client: httpx.Client, *, token: str, hmac_secret: str | None = None,
                 client_id: str = "drive-collector", seed: int = 7) -> None:
        self.client = client
        self.token = token
        self.hmac_secret = hmac_secret
        self.client_id = client_id
        self.rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._sent: list[dict[str, Any]] = []

    def _post_json(self, path: str, body: dict[str, Any], *, token: str | None = None,
                   sign: bool = True) -> httpx.Response:
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token or self.token}"}
        if self.hmac_secret and sign:
            headers.update(_sign(self.hmac_secret, raw))
        return self.client.post(path, content=raw, headers=headers)

    def _message(self, chat: str) -> dict[str, Any]:
        return {"chat_title": chat, "message_id": f"drive-{next(self._ids)}", "text": offer_text(self.rng),
                "sender_name": "vendor", "observed_at": datetime.now(UTC).isoformat()}

    def _upload(self, data: bytes, message_id: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "X-Client-Id": self.client_id,
                   "X-Message-Id": message_id, "Content-Type": "image/jpeg"}
        if self.hmac_secret:
            headers.update(_sign(self.hmac_secret, data))
        return self.client.post("/integrations/whatsapp/media", content=data, headers=headers)

    def heartbeat(self, connection_status: str = "open", client_id: str | None = None) -> httpx.Response:
        return self._post_json("/integrations/whatsapp/heartbeat",
                               {"client_id": client_id or self.client_id, "connection_status": connection_status})

    def round(self, *, burst: int = 0) -> Counter[int]:
        statuses: Counter[int] = Counter()
        statuses[self.heartbeat("open").status_code] += 1
        # A collector that cannot get its WhatsApp connection open: the offline alert's other half.
        statuses[self.heartbeat("connecting", f"{self.client_id}-stuck").status_code] += 1
        chat = self.rng.choice(("Deals Group", "Phones Wholesale", "Laptops BR"))
        messages = [self._message(chat) for _ in range(self.rng.randint(3, 8))]
        messages.append({"chat_title": chat, "text": "  "})  # skipped
        if self._sent:
            messages.append(self.rng.choice(self._sent))  # a repeat: deduped
        self._sent.extend(messages[:2])
        statuses[self._post_json("/integrations/whatsapp/ingest",
                                 {"client_id": self.client_id, "messages": messages}).status_code] += 1
        media = self.rng.randbytes(64) if self.rng.random() < 0.7 else b"the same flyer every time"
        statuses[self._upload(media, f"drive-media-{next(self._ids)}").status_code] += 1
        body = {"client_id": self.client_id, "messages": [self._message(chat)]}
        statuses[self._post_json("/integrations/whatsapp/ingest", body, token="not-the-token").status_code] += 1
        if self.hmac_secret:
            raw_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}",
                           "X-Signature": "0" * 64,
                           "X-Signature-Timestamp": datetime.now(UTC).isoformat()}
            statuses[self.client.post("/integrations/whatsapp/ingest", content=json.dumps(body).encode(),
                                      headers=raw_headers).status_code] += 1
        for _ in range(burst):
            statuses[self._post_json("/integrations/whatsapp/ingest",
                                     {"client_id": f"{self.client_id}-burst", "messages": []}).status_code] += 1
        return statuses


class SessionDriver:
    """Session stories on a few simulated sessions; ``round()`` returns status codes by count."""

    def __init__(self, client: httpx.Client, *, admin_token: str, sessions: int = 3, seed: int = 7) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {admin_token}"}
        self.session_ids = [f"drive-{i}" for i in range(1, sessions + 1)]
        self.rng = random.Random(seed)
        self._stories = itertools.cycle(SESSION_STORIES)
        self._connected = False

    def round(self) -> Counter[int]:
        statuses: Counter[int] = Counter()
        if not self._connected:
            for sid in self.session_ids:
                statuses[self.client.post(f"/api/whatsapp/sessions/{sid}/connect",
                                          headers=self.headers).status_code] += 1
            self._connected = True
        sid = self.rng.choice(self.session_ids)
        statuses[self.client.post(f"/api/whatsapp/sessions/{sid}/simulate/{next(self._stories)}",
                                  headers=self.headers).status_code] += 1
        # The fleet health is public; the alerts need this service's admin token.
        statuses[self.client.get("/api/whatsapp/session/health").status_code] += 1
        statuses[self.client.get("/api/whatsapp/session/alerts", headers=self.headers).status_code] += 1
        return statuses


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m services.drive", description=__doc__.split("\n\n")[0])
    p.add_argument("--ingest-url", help="base URL of the ingest service (skipped when absent)")
    p.add_argument("--session-url", help="base URL of the session service (skipped when absent)")
    p.add_argument("--rounds", type=int, default=10, help="rounds to run; 0 runs until interrupted")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
    p.add_argument("--burst", type=int, default=0, help="extra requests per round from one client (to see 429s)")
    p.add_argument("--timeout", type=float, default=10.0)
    return p.parse_args(argv)


def _required_secret(name: str) -> str | None:
    """The secret in environment variable ``name``; unset or empty, None, and stderr says so."""
    value = os.environ.get(name)
    if not value:
        print(f"{name} is not set", file=sys.stderr)
        return None
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.ingest_url or args.session_url):
        print("nothing to drive: give --ingest-url and/or --session-url", file=sys.stderr)
        return 2
    drivers: list[tuple[str, Any]] = []
    clients: list[httpx.Client] = []
    if args.ingest_url:
        token = _required_secret("WHATSAPP_INGEST_TOKEN")
        if token is None:
            return 2
        clients.append(httpx.Client(base_url=args.ingest_url, timeout=args.timeout))
        ingest = IngestDriver(clients[-1], token=token, hmac_secret=os.environ.get("WHATSAPP_HMAC_SECRET") or None)
        drivers.append(("ingest", lambda: ingest.round(burst=args.burst)))
    if args.session_url:
        admin = _required_secret("OBS_ADMIN_TOKEN")
        if admin is None:
            return 2
        clients.append(httpx.Client(base_url=args.session_url, timeout=args.timeout))
        drivers.append(("session", SessionDriver(clients[-1], admin_token=admin).round))
    totals: Counter[str] = Counter()
    try:
        for n in itertools.count(1):
            for name, run_round in drivers:
                try:
                    statuses = run_round()
                except httpx.HTTPError as exc:
                    print(f"round {n} {name}: {type(exc).__name__}", file=sys.stderr)
                    continue
                totals.update({f"{name} {code}": c for code, c in statuses.items()})
            print(f"round {n}: " + ", ".join(f"{k}: {v}" for k, v in sorted(totals.items())), flush=True)
            if args.rounds and n >= args.rounds:
                break
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        for client in clients:
            client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
