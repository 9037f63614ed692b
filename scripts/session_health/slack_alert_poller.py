#!/usr/bin/env python3
"""The Slack alert poller: read /session/alerts and post each alert of a
critical fleet to a Slack incoming webhook, as "⚠️ CODE: message".

    slack_alert_poller.py [--url URL] [--min-level critical|warning] [--dry-run]
                          [--interval S] [--timeout S]

Environment:
  SLACK_WEBHOOK_URL           the webhook to post to (not needed with --dry-run); never printed
  SESSION_HEALTH_ADMIN_TOKEN  the API's admin token (/session/alerts is guarded)
  SESSION_HEALTH_URL          base URL of the API when --url is not given (default http://127.0.0.1:8890)

One poll by default, like the seed's one-liner. With --interval the poller
keeps polling and posts an alert once while it stays active, and again only
after it has cleared. --dry-run prints the messages instead of posting them.

Exit codes: 0 done (posted or nothing to post), 1 the API or Slack failed,
2 usage (no webhook URL without --dry-run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8890"
WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
TOKEN_ENV = "SESSION_HEALTH_ADMIN_TOKEN"
_RANK = {"ok": 0, "warning": 1, "critical": 2}


def fetch_alerts(base: str, token: str | None, timeout: float) -> dict:
    req = urllib.request.Request(f"{base.rstrip('/')}/session/alerts")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def messages(report: dict, min_level: str) -> list[tuple[str, str]]:
    """(dedup key, text) for each alert to post: the seed posts when the overall level is critical."""
    if _RANK.get(report.get("level", "ok"), 0) < _RANK[min_level]:
        return []
    out = []
    for alert in report.get("alerts", []):
        if _RANK.get(alert.get("level"), 0) < _RANK[min_level]:
            continue
        who = f" [{alert['sessionId']}]" if alert.get("sessionId") else ""
        out.append((f"{alert.get('sessionId')}|{alert.get('code')}", f"⚠️ {alert['code']}: {alert['message']}{who}"))
    return out


def post(webhook: str, text: str, timeout: float) -> None:
    req = urllib.request.Request(webhook, data=json.dumps({"text": text}).encode(),
                                 headers={"Content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()


def poll_once(args: argparse.Namespace, webhook: str | None, token: str | None, sent: set[str]) -> int:
    try:
        report = fetch_alerts(args.url, token, args.timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"error: cannot read alerts from {args.url}: {exc}", file=sys.stderr)
        return 1
    current = messages(report, args.min_level)
    active = {key for key, _ in current}
    sent &= active  # a cleared alert may be posted again when it comes back
    for key, text in current:
        if key in sent:
            continue
        if args.dry_run or webhook is None:
            print(f"[dry-run] {text}")
        else:
            try:
                post(webhook, text, args.timeout)
            except (urllib.error.URLError, OSError) as exc:
                # The webhook URL is a secret: name the failure, never the URL.
                print(f"error: posting to Slack failed: {getattr(exc, 'reason', exc)}", file=sys.stderr)
                return 1
            print(f"posted: {text}")
        sent.add(key)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SESSION_HEALTH_URL", DEFAULT_URL))
    parser.add_argument("--min-level", choices=("critical", "warning"), default="critical")
    parser.add_argument("--dry-run", action="store_true", help="print the messages instead of posting them")
    parser.add_argument("--interval", type=float, default=0, help="poll every S seconds (default: once)")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    webhook = os.environ.get(WEBHOOK_ENV) or None
    if webhook is None and not args.dry_run:
        print(f"error: {WEBHOOK_ENV} is not set (or use --dry-run)", file=sys.stderr)
        return 2
    token = os.environ.get(TOKEN_ENV) or None
    sent: set[str] = set()
    if args.interval <= 0:
        return poll_once(args, webhook, token, sent)
    while True:  # until interrupted
        poll_once(args, webhook, token, sent)
        time.sleep(args.interval)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
