"""Datadog monitors as code: check them offline, apply them idempotently.

    python -m backends.datadog.monitors --check
    DD_API_KEY=… DD_APP_KEY=… python -m backends.datadog.monitors --apply

Each ``monitors/*.json`` is a body for Datadog's monitor API
(``POST /api/v1/monitor``). ``--check`` validates every file against
``monitor.schema.json`` and parses its query. ``--apply`` finds each monitor by
its ``otelpipe-monitor:<file stem>`` tag: it creates the missing ones, updates
the ones that differ in place, and leaves the rest alone, so a second run
changes nothing and a monitor is never created twice.

The keys come from ``DD_API_KEY`` and ``DD_APP_KEY`` (or ``DD_APPLICATION_KEY``),
or from files named by ``DD_API_KEY_FILE`` / ``DD_APP_KEY_FILE``. They go into
request headers only: never into output, errors or logs. The API host is
``https://api.<DD_SITE>`` (``DD_SITE`` defaults to ``datadoghq.com``);
``DD_API_URL`` overrides it (a proxy, or a local stand-in in the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

HERE = Path(__file__).resolve().parent
MONITORS_DIR = HERE / "monitors"
SCHEMA = HERE / "monitor.schema.json"
ID_TAG = "otelpipe-monitor"
# The fields this tool owns on a monitor; Datadog adds others (id, created, overall_state, …).
MANAGED_FIELDS = ("name", "type", "query", "message", "tags", "options", "priority")


class MonitorError(Exception):
    """A monitor file that is not a valid monitor, or an API call that failed."""


# ---------------------------------------------------------------------------------------------
# The query language of metric monitors, as far as these monitors use it:
#   <time aggregation>(last_<n><m|h|d>):<expression> <comparator> <number>
# An expression is arithmetic over numbers, functions and metric queries
# (``sum:metric.name{scope} by {tag}``, optionally ``.as_count()``/``.as_rate()``).
TIME_AGGREGATIONS = frozenset({"avg", "max", "min", "sum", "change", "pct_change"})
SPACE_AGGREGATIONS = frozenset({"avg", "max", "min", "sum"})
FUNCTIONS = frozenset({
    "abs", "clamp_min", "clamp_max", "cumsum", "default_zero", "derivative", "diff", "log2", "log10",
    "per_second", "per_minute", "per_hour", "monotonic_diff", "rate",
})
COMPARATORS = (">=", "<=", ">", "<")
_WINDOW = re.compile(r"last_(\d+)([mhd])")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")
_TAG = re.compile(r"!?[A-Za-z0-9_.:/\-*]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class MetricQuery:
    """What a monitor query says: over which window, which metrics, against which threshold."""

    time_aggregation: str
    window_seconds: int
    metrics: tuple[str, ...]
    comparator: str
    threshold: float


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.metrics = text, 0, []

    def fail(self, expected: str) -> MonitorError:
        return MonitorError(f"query: expected {expected} at column {self.pos + 1}: {self.text!r}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def take(self, literal: str) -> bool:
        self.skip()
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def need(self, literal: str) -> None:
        if not self.take(literal):
            raise self.fail(repr(literal))

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return m.group()

    def expression(self) -> None:
        self.term()
        while self.take("+") or self.take("-") or self.take("*") or self.take("/"):
            self.term()

    def term(self) -> None:
        if self.take("("):
            self.expression()
            self.need(")")
            return
        if self.match(_NUMBER) is not None:
            return
        name = self.match(re.compile(r"[a-z_0-9]+"))
        if name is None:
            raise self.fail("a number, a function or a metric query")
        if self.take(":"):
            if name not in SPACE_AGGREGATIONS:
                raise MonitorError(f"query: unknown space aggregation {name!r}: {self.text!r}")
            self.metric_query()
        elif self.take("("):
            if name not in FUNCTIONS:
                raise MonitorError(f"query: unknown function {name!r}: {self.text!r}")
            self.expression()
            while self.take(","):
                self.expression()
            self.need(")")
        else:
            raise self.fail("'(' or ':' after " + repr(name))

    def metric_query(self) -> None:
        metric = self.match(_METRIC)
        if metric is None or metric.endswith("."):
            raise self.fail("a metric name")
        self.need("{")
        self.tags()
        self.need("}")
        if self.take("by"):
            self.need("{")
            self.tags()
            self.need("}")
        for suffix in (".as_count()", ".as_rate()"):
            if self.take(suffix):
                break
        self.metrics.append(metric)

    def tags(self) -> None:
        while True:
            if self.match(_TAG) is None:
                raise self.fail("a tag or *")
            if not self.take(","):
                return


def parse_metric_query(text: str) -> MetricQuery:
    """Parse a metric monitor's query; MonitorError names what is wrong and where."""
    p = _Parser(text)
    agg = p.match(re.compile(r"[a-z_]+"))
    if agg not in TIME_AGGREGATIONS:
        raise MonitorError(f"query: unknown time aggregation {agg!r}: {text!r}")
    p.need("(")
    window = p.match(_WINDOW)
    if window is None:
        raise p.fail("a window such as last_5m")
    p.need(")")
    p.need(":")
    p.expression()
    comparator = next((c for c in COMPARATORS if p.take(c)), None)
    if comparator is None:
        raise p.fail("a comparator (>=, <=, >, <)")
    threshold = p.match(_NUMBER)
    if threshold is None:
        raise p.fail("the threshold")
    p.skip()
    if p.pos != len(text):
        raise p.fail("the end of the query")
    n, unit = _WINDOW.fullmatch(window).groups()  # type: ignore[union-attr]
    return MetricQuery(agg, int(n) * {"m": 60, "h": 3600, "d": 86400}[unit], tuple(p.metrics),
                       comparator, float(threshold))


_SERVICE_CHECK = re.compile(
    r'"(?P<check>[a-z][a-z0-9_.]*)"\.over\((?P<over>"[^"]+"(?:,"[^"]+")*)\)'
    r'(?:\.by\("[^"]+"(?:,"[^"]+")*\))?\.last\((?P<last>\d+)\)\.count_by_status\(\)')


def parse_service_check(text: str) -> str:
    if not _SERVICE_CHECK.fullmatch(text):
        raise MonitorError(
            f'query: not a service check query ("check".over("tag").last(N).count_by_status()): {text!r}'
        )
    return _SERVICE_CHECK.fullmatch(text).group("check")  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
def load(path: Path) -> dict[str, Any]:
    """One monitor file, validated against the schema and with its query parsed."""
    try:
        body = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MonitorError(f"{path.name}: not JSON: {exc}") from None
    errors = sorted(jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).iter_errors(body),
                    key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise MonitorError(f"{path.name}: {where}: {errors[0].message}")
    try:
        if body["type"] == "service check":
            parse_service_check(body["query"])
        else:
            parse_metric_query(body["query"])
    except MonitorError as exc:
        raise MonitorError(f"{path.name}: {exc}") from None
    if f"{ID_TAG}:{path.stem}" not in body["tags"]:
        raise MonitorError(f"{path.name}: tags: must include {ID_TAG}:{path.stem} (how --apply finds it)")
    return body


def load_all(directory: Path = MONITORS_DIR) -> dict[str, dict[str, Any]]:
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise MonitorError(f"no monitor files in {directory}")
    return {p.stem: load(p) for p in paths}


# ---------------------------------------------------------------------------------------------
def _secret(name: str, *aliases: str) -> str:
    for var in (name, *aliases):
        if os.environ.get(var):
            return os.environ[var]
        if os.environ.get(f"{var}_FILE"):
            return Path(os.environ[f"{var}_FILE"]).read_text().strip()
    raise MonitorError(f"{name} is not set (or {name}_FILE); --apply needs the API and application keys")


class Api:
    """The few calls of Datadog's v1 monitor API that --apply makes."""

    def __init__(self, base_url: str, api_key: str, app_key: str, timeout: float = 30.0) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self._headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key,
                         "Content-Type": "application/json", "Accept": "application/json"}

    @classmethod
    def from_env(cls) -> Api:
        base = os.environ.get("DD_API_URL") or f"https://api.{os.environ.get('DD_SITE') or 'datadoghq.com'}"
        return cls(base, _secret("DD_API_KEY"), _secret("DD_APP_KEY", "DD_APPLICATION_KEY"))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=self._headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            if exc.code == 403:
                detail = "the API key or the application key was refused"
            # The URL without its query; the keys travel in headers only, so nothing secret is in it.
            raise MonitorError(f"{method} {path.split('?')[0]}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MonitorError(f"{method} {self.base_url}{path.split('?')[0]}: unreachable: {reason}") from None

    def find(self, stem: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"monitor_tags": f"{ID_TAG}:{stem}"})
        return [m for m in self.call("GET", f"/api/v1/monitor?{query}") or []
                if f"{ID_TAG}:{stem}" in m.get("tags", [])]


def _differs(wanted: dict[str, Any], have: dict[str, Any]) -> bool:
    for field in MANAGED_FIELDS:
        want = wanted.get(field)
        got = have.get(field)
        if field == "tags":
            want, got = sorted(want or []), sorted(got or [])
        elif field == "options":
            # Datadog fills in defaults for options we do not set; compare only ours.
            got = {k: (got or {}).get(k) for k in (want or {})}
        if want != got:
            return True
    return False


def apply(api: Api, monitors: dict[str, dict[str, Any]], out: Callable[[str], object] = print) -> dict[str, int]:
    """Create, update or leave each monitor; returns the counts and prints one line per monitor."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for stem, wanted in monitors.items():
        found = api.find(stem)
        if len(found) > 1:
            ids = ", ".join(str(m["id"]) for m in found)
            raise MonitorError(f"{stem}: {len(found)} monitors carry {ID_TAG}:{stem} (ids {ids}); delete all but one")
        if not found:
            created = api.call("POST", "/api/v1/monitor", wanted)
            counts["created"] += 1
            out(f"created   {stem} (id {created['id']})")
        elif _differs(wanted, found[0]):
            api.call("PUT", f"/api/v1/monitor/{found[0]['id']}", wanted)
            counts["updated"] += 1
            out(f"updated   {stem} (id {found[0]['id']})")
        else:
            counts["unchanged"] += 1
            out(f"unchanged {stem} (id {found[0]['id']})")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backends.datadog.monitors", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="validate every monitor file offline")
    mode.add_argument("--apply", action="store_true", help="create or update the monitors in Datadog")
    parser.add_argument("--dir", type=Path, default=MONITORS_DIR, help="monitor files (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        monitors = load_all(args.dir)
        if args.check:
            for stem, body in monitors.items():
                print(f"ok {stem}: {body['type']}: {body['query']}")
            print(f"{len(monitors)} monitors valid")
            return 0
        counts = apply(Api.from_env(), monitors)
        print(", ".join(f"{n} {what}" for what, n in counts.items()))
        return 0
    except MonitorError as exc:
        print(f"datadog-monitors: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
