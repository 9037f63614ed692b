#!/usr/bin/env python3
"""The health-check script: poll /session/health and exit with its verdict.

    health_check.py [--url URL] [--session ID] [--timeout S]

Exit codes (as in the seed):
  0  OK: every session healthy (HTTP 200, status ok)
  1  WARNING: HTTP 200 with status warning
  2  CRITICAL: HTTP 503
  3  UNKNOWN: unreachable, or any other answer (the seed's script fell through
     with 0 here; a monitor must not read "cannot tell" as healthy)

The URL defaults to $SESSION_HEALTH_URL, else http://127.0.0.1:8890. The fleet
health needs no admin token; one session's (--session) does, and is read from
$SESSION_HEALTH_ADMIN_TOKEN (without it the API answers 401: exit 3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
DEFAULT_URL = "http://127.0.0.1:8890"
TOKEN_ENV = "SESSION_HEALTH_ADMIN_TOKEN"


def fetch(url: str, timeout: float, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:  # 503 and friends still carry a body
        return err.code, err.read().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SESSION_HEALTH_URL", DEFAULT_URL),
                        help="base URL of the session-health API")
    parser.add_argument("--session", help="check one session (/sessions/ID/health) instead of the fleet")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    url = f"{base}/sessions/{urllib.parse.quote(args.session, safe='')}/health" if args.session \
        else f"{base}/session/health"
    try:
        # Only a per-session check sends the token: the fleet health is public and needs none.
        token = os.environ.get(TOKEN_ENV, "").strip() if args.session else None
        code, body = fetch(url, args.timeout, token or None)
    except (urllib.error.URLError, OSError) as exc:
        print(f"UNKNOWN: cannot reach {url}: {exc}")
        return UNKNOWN
    if code == 503:
        print("CRITICAL: WhatsApp session unhealthy")
        print(_pretty(body))
        return CRITICAL
    if code == 200:
        try:
            status = json.loads(body).get("status")
        except (ValueError, AttributeError):
            print(f"UNKNOWN: {url} answered 200 with a body that is not the health JSON")
            return UNKNOWN
        if status == "warning":
            print("WARNING: WhatsApp session has warnings")
            return WARNING
        print("OK: WhatsApp session healthy")
        return OK
    hint = f" (set {TOKEN_ENV})" if code == 401 else ""
    print(f"UNKNOWN: {url} answered HTTP {code}{hint}")
    return UNKNOWN


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2)
    except ValueError:
        return body


if __name__ == "__main__":
    sys.exit(main())
