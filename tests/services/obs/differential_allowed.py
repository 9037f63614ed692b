"""The reviewed differences between the lean mode's spans and the upstream instrumentations'.

Each entry says what differs and why it is intended; test_differential.py
removes exactly these from both sides before comparing. Anything else that
differs fails that test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Opt-in values the lean mode refuses at init (loudly: a ValueError naming the variable) instead of honouring.
LEAN_REJECTS: frozenset[str] = frozenset()

# Lean scopes and the upstream instrumentation each stands in for.
LEAN_SCOPES = {
    "services.obs.fastapi": "opentelemetry.instrumentation.fastapi",
    "services.obs.redis": "opentelemetry.instrumentation.redis",
    "services.obs.sqlalchemy": "opentelemetry.instrumentation.sqlalchemy",
}


@dataclass
class Difference:
    why: str
    # (label, opt-in) -> applies; then a change made to each reduced span of one side.
    applies: Callable[[str, str], bool]
    upstream: Callable[[dict[str, Any]], None] = lambda span: None
    lean: Callable[[dict[str, Any]], None] = lambda span: None


def _scope_name_and_version(span: dict[str, Any]) -> None:
    name, version, schema_url = span["scope"]
    name = LEAN_SCOPES.get(name, name)
    span["scope"] = (name, "<version>" if name in LEAN_SCOPES.values() else version, schema_url)


def _upstream_scope_version(span: dict[str, Any]) -> None:
    name, _version, schema_url = span["scope"]
    if name in LEAN_SCOPES.values():
        span["scope"] = (name, "<version>", schema_url)


@dataclass
class Allowed:
    differences: list[Difference] = field(default_factory=list)

    def apply(self, label: str, opt_in: str, upstream: list[dict[str, Any]],
              lean: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        upstream, lean = copy.deepcopy(upstream), copy.deepcopy(lean)
        for difference in self.differences:
            if difference.applies(label, opt_in):
                for span in upstream:
                    if span:
                        difference.upstream(span)
                for span in lean:
                    if span:
                        difference.lean(span)

        def key(d: dict) -> tuple:
            return d["kind"], d["name"], str(d["attributes"])

        upstream = [s for s in upstream if s]
        lean = [s for s in lean if s]
        return sorted(upstream, key=key), sorted(lean, key=key)


def _mounted_route(span: dict[str, Any]) -> None:
    if span["kind"] == "SERVER":
        span["name"] = "GET <route>"
        span["attributes"]["http.route"] = "<route>"


ALLOWED = Allowed([
    Difference(
        "A mounted app's route: upstream names the mount alone (http.route '/api'); the lean mode gives the "
        "whole template ('/api/things/{thing_id}'), which does not merge every route under the mount.",
        lambda label, opt_in: label == "mounted", upstream=_mounted_route, lean=_mounted_route),
    Difference(
        "The scope: lean spans are obs's own (services.obs.<library>, obs's version), where upstream's are "
        "the instrumentation package's name and version. The schema_url is the same.",
        lambda label, opt_in: True, upstream=_upstream_scope_version, lean=_scope_name_and_version),
])
