"""The WhatsApp ingest load harness: signed batches in, each message followed to its offer, SLOs enforced.

    load --url <base>/integrations/whatsapp/ingest --token $WHATSAPP_INGEST_TOKEN \\
         --diagnostics-url <base>/chat/tools/diagnostics --count 50 --batch-size 10 \\
         --report-file docs/perf_baseline.json

(``python -m loadtests.whatsapp_harness load …`` is the same command.) Each
message goes to a chat of its own, so the diagnostics endpoint's per-chat
counters show when that message was stored and whether an offer was extracted
from it. A share of the messages is sent again in a later batch, which ingest
must dedupe. The ingest→offer latency of a message runs from the first attempt
to send its batch to the first diagnostics poll that shows it.

SLOs, checked inline: p95 ingest→offer < 60 s, skipped/error ratio < 2 %,
extracted/created ≥ 95 %. On a breach the harness prints an ``ALERT:`` stanza
(each SLO breached, the measured value, the report path) and exits 1. It
writes the JSON report to ``--report-file`` and keeps the last 3 runs, newest
first, in ``perf_baseline.md`` next to it.

Secrets: the token from ``--token`` or WHATSAPP_INGEST_TOKEN; the HMAC key
from WHATSAPP_HMAC_SECRET (unset: unsigned requests); the diagnostics admin
token from OBS_ADMIN_TOKEN. None of them is printed or written to the report.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

SLO_P95_S = 60.0
SLO_SKIPPED_ERROR_RATIO = 0.02
SLO_EXTRACTED_CREATED = 0.95
BASELINE_ENTRIES_KEPT = 3
BASELINE_MARKER = "<!-- entries: newest first, written by the load harness -->"

PRODUCTS = ("Pixel 8 128GB", "Galaxy S23 Ultra", "iPhone 13 Pro", "MacBook Air M2", "AirPods Pro 2",
            "Surface Laptop 5", "Dell XPS 13", "iPad Air 5", "Kindle Paperwhite", "Switch OLED", "ThinkPad X1")
CURRENCIES = ("$", "€", "R$ ", "£", "USD ")


@dataclass
class Message:
    index: int
    chat_id: str
    body: dict[str, Any]
    repeat: bool = False
    sent_at: float | None = None     # monotonic, first attempt of its batch
    seen_at: float | None = None     # monotonic, first poll that showed it
    lost: bool = False               # its batch never got a 2xx


@dataclass
class Outcome:
    statuses: Counter[str] = field(default_factory=Counter)
    refusals: list[str] = field(default_factory=list)


def _utc_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def sign(secret: str, body: bytes) -> dict[str, str]:
    """X-Signature: hex HMAC-SHA256(secret, timestamp + "." + body), as ingest checks it."""
    timestamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Signature": signature, "X-Signature-Timestamp": timestamp}


def offer_text(rng: random.Random, *, priced: bool) -> str:
    if not priced:
        return f"anyone selling a {rng.choice(PRODUCTS)}? dm me"
    return "\n".join(f"{rng.choice(PRODUCTS)} - {rng.choice(CURRENCIES)}{rng.randint(20, 2500)}"
                     for _ in range(rng.randint(1, 3)))


def build_messages(run_id: str, count: int, *, duplicate_share: float, no_offer_share: float,
                   rng: random.Random) -> list[Message]:
    """``count`` new messages (a chat each), then repeats of a ``duplicate_share`` of them."""
    unpriced = set(rng.sample(range(count), round(count * no_offer_share)))
    now = datetime.now(UTC).isoformat()
    messages = []
    for i in range(count):
        chat = f"load-{run_id}-{i:05d}"
        messages.append(Message(i, chat, {
            "chat_id": chat, "chat_title": f"Load {run_id} #{i}", "message_id": f"{chat}-m",
            "text": offer_text(rng, priced=i not in unpriced), "sender_name": f"vendor-{rng.randint(1, 40)}",
            "observed_at": now}))
    repeats = [Message(m.index, m.chat_id, dict(m.body), repeat=True)
               for m in rng.sample(messages, round(count * duplicate_share))]
    return messages + repeats


def batches_of(messages: list[Message], size: int) -> list[list[Message]]:
    """The new messages in order, then the repeats: each repeat in a batch after its original's."""
    new = [m for m in messages if not m.repeat]
    repeats = [m for m in messages if m.repeat]
    return [new[i:i + size] for i in range(0, len(new), size)] + \
        [repeats[i:i + size] for i in range(0, len(repeats), size)]


class Harness:
    def __init__(self, args: argparse.Namespace, *, token: str, hmac_secret: str | None,
                 admin_token: str | None) -> None:
        self.args = args
        self.token = token
        self.hmac_secret = hmac_secret
        self.admin_token = admin_token
        self.run_id = uuid.uuid4().hex[:10]
        self.client_id = args.client_id or f"load-harness-{self.run_id}"
        self.rng = random.Random(args.seed)
        self.outcome = Outcome()
        self.rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._poll_errors = 0

    # -- sending --------------------------------------------------------------------------------------
    def send_batch(self, client: httpx.Client, batch: list[Message]) -> bool:
        """POST one batch, retrying 429 (after Retry-After) and 5xx/transport errors; True on a 2xx."""
        body = json.dumps({"client_id": self.client_id, "messages": [m.body for m in batch]},
                          separators=(",", ":")).encode()
        started = time.monotonic()
        for m in batch:
            m.sent_at = started
        for attempt in range(self.args.max_retries + 1):
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
            if self.hmac_secret:
                headers.update(sign(self.hmac_secret, body))  # a fresh signature per attempt: one use each
            try:
                resp = client.post(self.args.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                self.outcome.statuses[type(exc).__name__] += 1
                wait = min(0.5 * 2 ** attempt, 8.0)
            else:
                self.outcome.statuses[str(resp.status_code)] += 1
                if resp.is_success:
                    return True
                if resp.status_code == 429:
                    wait = min(float(resp.headers.get("retry-after") or 1), self.args.max_wait_s)
                elif resp.status_code >= 500:
                    wait = min(0.5 * 2 ** attempt, 8.0)
                else:
                    self.outcome.refusals.append(f"{resp.status_code} {_detail(resp)}")
                    return False  # 4xx other than 429: sending it again would not help
            if attempt < self.args.max_retries:
                time.sleep(wait)
        return False

    # -- following ------------------------------------------------------------------------------------
    def poll_once(self, client: httpx.Client, pending: dict[str, list[Message]]) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}
        try:
            resp = client.get(self.args.diagnostics_url, headers=headers)
        except httpx.TransportError:
            self._poll_errors += 1
            return
        seen_at = time.monotonic()
        if not resp.is_success:
            self._poll_errors += 1
            if resp.status_code in (401, 403, 404):
                raise SystemExit(f"load: diagnostics answered {resp.status_code} {_detail(resp)} "
                                 f"(is OBS_ADMIN_TOKEN set to the service's admin token?)")
            return
        with self._lock:
            for row in resp.json().get("whatsapp_metrics", []):
                if row.get("client_id") != self.client_id:
                    continue
                chat = row.get("chat_id")
                self.rows[chat] = row
                waiting = pending.get(chat)
                if not waiting:
                    continue
                # The chat's accepted count tells how many of its sends have been stored so far.
                done = int(row.get("accepted", 0))
                for m in [m for m in waiting if m.sent_at is not None][:done]:
                    m.seen_at = seen_at
                    waiting.remove(m)

    def run(self, progress: Any) -> list[Message]:
        messages = build_messages(self.run_id, self.args.count, duplicate_share=self.args.duplicate_share,
                                  no_offer_share=self.args.no_offer_share, rng=self.rng)
        batches = batches_of(messages, self.args.batch_size)
        pending: dict[str, list[Message]] = {}
        for m in messages:
            pending.setdefault(m.chat_id, []).append(m)
        stop = threading.Event()
        follow_task = progress.add_task("followed to offer", total=len(messages))

        def follow() -> None:
            with httpx.Client(timeout=self.args.timeout_s) as client:
                while not stop.is_set():
                    self.poll_once(client, pending)
                    with self._lock:
                        progress.update(follow_task, completed=sum(m.seen_at is not None for m in messages))
                    stop.wait(self.args.poll_interval_s)

        poller_error: list[BaseException] = []

        def guarded() -> None:
            try:
                follow()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                poller_error.append(exc)

        poller = threading.Thread(target=guarded, name="diagnostics-poller", daemon=True)
        poller.start()
        send_task = progress.add_task("batches sent", total=len(batches))
        try:
            with httpx.Client(timeout=self.args.timeout_s) as client:
                for batch in batches:
                    if poller_error:
                        break
                    if not self.send_batch(client, batch):
                        with self._lock:
                            for m in batch:
                                m.lost = True
                                pending[m.chat_id].remove(m)
                    progress.advance(send_task)
            deadline = time.monotonic() + self.args.follow_timeout_s
            while time.monotonic() < deadline and not poller_error:
                with self._lock:
                    if not any(pending.values()):
                        break
                time.sleep(self.args.poll_interval_s / 2)
        finally:
            stop.set()
            poller.join(timeout=self.args.timeout_s + 5)
        if poller_error:
            raise poller_error[0]
        self.followed_until = time.monotonic()
        return messages


def _detail(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("detail", ""))[:120]
    except ValueError:
        return ""


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def build_report(h: Harness, messages: list[Message], started: float, finished: float) -> dict[str, Any]:
    rows = [h.rows[c] for c in sorted({m.chat_id for m in messages}) if c in h.rows]
    sums = {k: sum(int(r.get(k, 0)) for r in rows) for k in ("accepted", "created", "deduped", "extracted",
                                                            "errors", "skipped")}
    sent = len(messages)
    lost = sum(m.lost for m in messages)
    unresolved = [m for m in messages if not m.lost and m.seen_at is None]
    # A message never seen counts at least the time it was followed for: it cannot make the p95 look better.
    latencies = [m.seen_at - m.sent_at for m in messages if m.seen_at is not None and m.sent_at is not None]
    latencies += [h.followed_until - m.sent_at for m in unresolved if m.sent_at is not None]
    p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
    skipped_error = (sums["skipped"] + sums["errors"] + lost + len(unresolved)) / sent if sent else 0.0
    extraction = sums["extracted"] / sums["created"] if sums["created"] else 0.0
    dedupe = sums["deduped"] / sums["accepted"] if sums["accepted"] else 0.0
    a = h.args
    slos = [
        _slo("p95 ingest→offer", "p95_ingest_to_offer_s", p95, "<", a.slo_p95_s, "s"),
        _slo("skipped/error ratio", "skipped_error_ratio", skipped_error, "<", a.slo_skipped_error_ratio, "%"),
        _slo("extracted/created", "extraction_success_ratio", extraction, ">=", a.slo_extracted_created, "%"),
    ]
    return {
        "run_id": h.run_id,
        "started_at": _utc_iso(started),
        "finished_at": _utc_iso(finished),
        "duration_s": round(finished - started, 3),
        "target": {"url": a.url, "diagnostics_url": a.diagnostics_url, "client_id": h.client_id,
                   "signed": bool(h.hmac_secret)},
        "params": {"count": a.count, "batch_size": a.batch_size, "duplicate_share": a.duplicate_share,
                   "no_offer_share": a.no_offer_share, "max_retries": a.max_retries},
        "messages_sent": sent,
        "repeats_sent": sum(m.repeat for m in messages),
        "messages_lost": lost,
        "messages_unresolved": len(unresolved),
        "totals": sums,
        "latency_s": {"p50": _r(p50), "p95": _r(p95), "max": _r(max(latencies) if latencies else None),
                      "samples": len(latencies)},
        "p50_ingest_to_offer_s": _r(p50),
        "p95_ingest_to_offer_s": _r(p95),
        "skipped_error_ratio": round(skipped_error, 4),
        "extraction_success_ratio": round(extraction, 4),
        "extracted_created_pct": round(100 * extraction, 2),
        "dedupe_ratio": round(dedupe, 4),
        "rate_limited_429": h.outcome.statuses.get("429", 0),
        "http_statuses": dict(sorted(h.outcome.statuses.items())),
        "refusals": h.outcome.refusals[:10],
        "diagnostics_poll_errors": h._poll_errors,
        "slos": slos,
        "passed": all(s["ok"] for s in slos),
        "report_file": str(a.report_file),
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _slo(name: str, key: str, value: float | None, op: str, threshold: float, unit: str) -> dict[str, Any]:
    ok = value is not None and (value < threshold if op == "<" else value >= threshold)
    return {"slo": name, "key": key, "value": _r(value), "op": op, "threshold": threshold, "unit": unit, "ok": ok}


def _fmt(value: float | None, unit: str, *, limit: bool = False) -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{100 * value:g} %" if limit else f"{100 * value:.1f} %"
    return f"{value:g} s" if limit else f"{value:.3f} s"


def alert_stanza(report: dict[str, Any]) -> str | None:
    breached = [s for s in report["slos"] if not s["ok"]]
    if not breached:
        return None
    lines = [f"ALERT: WhatsApp ingest load SLO breached (run {report['run_id']}, {report['target']['url']})"]
    for s in breached:
        lines.append(f"  SLO {s['slo']} {s['op']} {_fmt(s['threshold'], s['unit'], limit=True)}: "
                     f"measured {_fmt(s['value'], s['unit'])}")
    lines.append(f"  report: {report['report_file']}")
    return "\n".join(lines)


# -- perf_baseline.md ---------------------------------------------------------------------------------
_HEADER = f"""# Performance baseline: WhatsApp ingest

The last {BASELINE_ENTRIES_KEPT} runs of the ingest load harness (`load`, `loadtests/whatsapp_harness.py`),
newest first; the harness rewrites this file after every run, and the full JSON
report of the newest run is `perf_baseline.json` next to it. SLOs: p95
ingest→offer < 60 s, skipped/error ratio < 2 %, extracted/created ≥ 95 %.
How to run it: [loadtests.md](loadtests.md).

{BASELINE_MARKER}
"""
_ENTRY_START = re.compile(r"^## ", re.MULTILINE)


def baseline_entry(report: dict[str, Any]) -> str:
    verdict = "PASS" if report["passed"] else "FAIL: " + ", ".join(s["slo"] for s in report["slos"] if not s["ok"])
    lat = report["latency_s"]
    return (
        f"## {report['finished_at']} run {report['run_id']} ({verdict})\n\n"
        f"| p50 | p95 | extracted/created | skipped/error | dedupe ratio | 429s | messages (repeats) | batch |\n"
        f"|---|---|---|---|---|---|---|---|\n"
        f"| {_fmt(lat['p50'], 's')} | {_fmt(lat['p95'], 's')} | {_fmt(report['extraction_success_ratio'], '%')} "
        f"| {_fmt(report['skipped_error_ratio'], '%')} | {_fmt(report['dedupe_ratio'], '%')} "
        f"| {report['rate_limited_429']} | {report['messages_sent']} ({report['repeats_sent']}) "
        f"| {report['params']['batch_size']} |\n\n"
        f"Target `{report['target']['url']}`; report `{report['report_file']}`.\n"
    )


def baseline_entries(text: str) -> list[str]:
    """The entries of an existing perf_baseline.md, in file order (newest first)."""
    _, _, body = text.partition(BASELINE_MARKER)
    starts = [m.start() for m in _ENTRY_START.finditer(body)]
    return [body[a:b].strip() + "\n" for a, b in zip(starts, [*starts[1:], len(body)], strict=True)]


def update_baseline(path: Path, report: dict[str, Any], keep: int = BASELINE_ENTRIES_KEPT) -> list[str]:
    """Prepend this run's entry and keep the newest ``keep``; the entries written."""
    old = baseline_entries(path.read_text()) if path.exists() else []
    entries = [baseline_entry(report), *old][:keep]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_HEADER + "\n" + "\n".join(entries))
    return entries


# -- command line -------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["load"]:  # `whatsapp_harness.py load --url …`: the subcommand form
        argv = argv[1:]
    p = argparse.ArgumentParser(prog="load", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="the ingest endpoint, …/integrations/whatsapp/ingest")
    p.add_argument("--token", default=os.environ.get("WHATSAPP_INGEST_TOKEN"),
                   help="the ingest bearer token (default: $WHATSAPP_INGEST_TOKEN)")
    p.add_argument("--diagnostics-url", required=True, help="…/chat/tools/diagnostics (admin: $OBS_ADMIN_TOKEN)")
    p.add_argument("--count", type=int, default=50, help="new messages to send (default 50)")
    p.add_argument("--batch-size", type=int, default=10, help="messages per request (default 10)")
    p.add_argument("--report-file", type=Path, default=Path("docs/perf_baseline.json"),
                   help="JSON report (default docs/perf_baseline.json)")
    p.add_argument("--baseline-md", type=Path, default=None,
                   help="trend file kept at the last 3 runs (default: perf_baseline.md beside the report)")
    p.add_argument("--duplicate-share", type=float, default=0.1,
                   help="share of the messages sent a second time, to be deduped (default 0.1)")
    p.add_argument("--no-offer-share", type=float, default=0.0,
                   help="share of messages without a price (not offers; default 0)")
    p.add_argument("--client-id", default=None, help="collector client_id (default: load-harness-<run id>)")
    p.add_argument("--max-retries", type=int, default=5, help="retries of a batch on 429/5xx (default 5)")
    p.add_argument("--max-wait-s", type=float, default=60.0, help="longest wait before a 429 retry (default 60)")
    p.add_argument("--timeout-s", type=float, default=30.0, help="HTTP timeout per request (default 30)")
    p.add_argument("--poll-interval-s", type=float, default=0.25, help="diagnostics poll interval (default 0.25)")
    p.add_argument("--follow-timeout-s", type=float, default=120.0,
                   help="how long to wait for the last message to show (default 120)")
    p.add_argument("--slo-p95-s", type=float, default=SLO_P95_S, help="p95 ingest→offer SLO (default 60)")
    p.add_argument("--slo-skipped-error-ratio", type=float, default=SLO_SKIPPED_ERROR_RATIO,
                   help="skipped/error ratio SLO, below (default 0.02)")
    p.add_argument("--slo-extracted-created", type=float, default=SLO_EXTRACTED_CREATED,
                   help="extracted/created SLO, at least (default 0.95)")
    p.add_argument("--seed", type=int, default=None, help="random seed of the generated messages")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they go to stderr)")
    args = p.parse_args(argv)
    if not args.token:
        p.error("no ingest token: give --token or set WHATSAPP_INGEST_TOKEN")
    if args.count < 1 or args.batch_size < 1:
        p.error("--count and --batch-size must be at least 1")
    for name in ("duplicate_share", "no_offer_share"):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f"--{name.replace('_', '-')} must be within 0..1")
    return args


def summary_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"WhatsApp ingest load, run {report['run_id']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("SLO")
    slo_of = {s["key"]: s for s in report["slos"]}
    lat = report["latency_s"]
    rows = [
        ("p50 ingest→offer", _fmt(lat["p50"], "s"), None),
        ("p95 ingest→offer", _fmt(lat["p95"], "s"), "p95_ingest_to_offer_s"),
        ("skipped/error ratio", _fmt(report["skipped_error_ratio"], "%"), "skipped_error_ratio"),
        ("extracted/created", _fmt(report["extraction_success_ratio"], "%"), "extraction_success_ratio"),
        ("dedupe ratio (deduped/accepted)", _fmt(report["dedupe_ratio"], "%"), None),
        ("429 responses", str(report["rate_limited_429"]), None),
        ("messages sent (repeats)", f"{report['messages_sent']} ({report['repeats_sent']})", None),
        ("accepted / created / deduped", "{accepted} / {created} / {deduped}".format(**report["totals"]), None),
        ("extracted / errors / skipped", "{extracted} / {errors} / {skipped}".format(**report["totals"]), None),
        ("lost / unresolved", f"{report['messages_lost']} / {report['messages_unresolved']}", None),
        ("duration", f"{report['duration_s']:.1f} s", None),
    ]
    for name, value, key in rows:
        slo = slo_of.get(key) if key else None
        verdict = "" if slo is None else (
            f"{'PASS' if slo['ok'] else 'FAIL'} ({slo['op']} {_fmt(slo['threshold'], slo['unit'], limit=True)})")
        table.add_row(name, value, verdict)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    args = parse_args(argv)
    harness = Harness(args, token=args.token, hmac_secret=os.environ.get("WHATSAPP_HMAC_SECRET") or None,
                      admin_token=os.environ.get("OBS_ADMIN_TOKEN") or None)
    err = Console(stderr=True)
    started = time.time()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=args.no_progress, transient=False) as progress:
        messages = harness.run(progress)
    report = build_report(harness, messages, started, time.time())
    args.report_file.parent.mkdir(parents=True, exist_ok=True)
    args.report_file.write_text(json.dumps(report, indent=2) + "\n")
    baseline = args.baseline_md or args.report_file.with_name("perf_baseline.md")
    update_baseline(baseline, report)
    out = Console(width=max(100, Console().width))
    out.print(summary_table(report))
    print(f"report: {args.report_file}   trend: {baseline}")
    alert = alert_stanza(report)
    if alert:
        print(alert, flush=True)
        return 1
    print("all SLOs met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
