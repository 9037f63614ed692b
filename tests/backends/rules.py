"""The Prometheus rule files as data, and the series names their expressions use."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.support.procs import REPO

PROMETHEUS_DIR = REPO / "backends" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_CONFIG = REPO / "backends" / "alertmanager" / "alertmanager.yml"
RUNBOOKS_DIR = REPO / "docs" / "runbooks"
KNOWN_METRICS = Path(__file__).with_name("known_metrics.txt")
PENDING_SECTION = "## pending:"


@dataclass(frozen=True)
class Rule:
    file: Path
    group: str
    expr: str
    alert: str | None = None
    record: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    for_: str | None = None


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def load_rules() -> list[Rule]:
    out = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for r in group["rules"]:
                out.append(Rule(path, group["name"], str(r["expr"]), r.get("alert"), r.get("record"),
                                dict(r.get("labels") or {}), dict(r.get("annotations") or {}), r.get("for")))
    return out


def alerts() -> list[Rule]:
    return [r for r in load_rules() if r.alert]


def known_metrics() -> tuple[set[str], set[str]]:
    """(names seen in a real scrape or declared by the services, names of services not built yet)."""
    known: set[str] = set()
    pending: set[str] = set()
    target = known
    for line in KNOWN_METRICS.read_text().splitlines():
        if line.startswith("##"):
            target = pending if line.startswith(PENDING_SECTION) else known
            continue
        name = line.split("#", 1)[0].strip()
        if name:
            target.add(name)
    return known, pending


# PromQL, enough of it to find the series a rule reads: strings, label matchers, ranges,
# offsets, numbers and grouping clauses go; what is left of the identifiers is either a
# function or operator (followed by "(" or a keyword) or a series name.
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "inf", "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?\d+[smhdwy]", re.IGNORECASE)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?(?![\w:])")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def series_names(expr: str) -> set[str]:
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group(0)
        if word.lower() in _KEYWORDS or text[m.end():].lstrip().startswith("("):
            continue
        names.add(word)
    return names
