"""Walking parsed OTLP messages and applying the rules in place.

The walker goes where DESIGN §4 lists: resource, scope, span (its name and
status message too), event and link attributes; log attributes and bodies
(string, map and array, recursively); metric data point attributes and
exemplars. Arrays and maps inside values keep ``max_items`` items and strings
``max_string_length`` characters; a log body that is a map is the record
itself, like its attributes, and keeps every field at its top level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processors.api import Signal
from processors.redaction.audit import Changes, Tally
from processors.redaction.config import RedactionConfig
from processors.redaction.locate import Located
from processors.redaction.rules import CACHE_MAX_VALUE_LENGTH, ROUND, TEXT, KeyAction, KeyRule, RuleSet

TRUNCATION_MARK = "…"
# Detectors look a little past the cut, so that a value straddling it is still recognised.
_LOOK_PAST_CUT = 1024
_DROP = object()  # a keyed entry to remove

_VALUE, _IGNORE, _DROP_KEY, _BLOCK = KeyAction.VALUE, KeyAction.IGNORE, KeyAction.DROP, KeyAction.BLOCK


@dataclass(frozen=True)
class Layout:
    """Field names of one signal's request: resource entries, scope entries, items."""

    resources: str
    scopes: str
    items: str
    item: str  # the Walker method for one item


LAYOUTS = {
    Signal.TRACES: Layout("resource_spans", "scope_spans", "spans", "span"),
    Signal.LOGS: Layout("resource_logs", "scope_logs", "log_records", "log_record"),
    Signal.METRICS: Layout("resource_metrics", "scope_metrics", "metrics", "metric"),
}


class Walker:
    def __init__(self, rules: RuleSet, config: RedactionConfig) -> None:
        self.rules = rules
        self.key_rule = rules.key_rule
        self.rewrite = rules.rewrite
        self.max_items = config.truncation.max_items
        self.max_len = config.truncation.max_string_length
        self.summary = config.summary
        self.geo_action = rules.actions["geo"][0] if rules.geo is not None else None
        # Strings this short need neither truncation nor the uncached path.
        self._short = min(self.max_len or CACHE_MAX_VALUE_LENGTH, CACHE_MAX_VALUE_LENGTH)

    # --- requests ---------------------------------------------------------------

    def walk_all(self, request: Any, layout: Layout, tally: Tally) -> int:
        item = getattr(self, layout.item)
        walked = 0
        for rx in getattr(request, layout.resources):
            self.owner(rx.resource, tally)
            for sx in getattr(rx, layout.scopes):
                self.owner(sx.scope, tally)
                for it in getattr(sx, layout.items):
                    item(it, tally)
                    walked += 1
        return walked

    def walk_located(self, request: Any, layout: Layout, located: Located, tally: Tally) -> int:
        """Walk only what the scan hit. Every index is resolved before anything changes."""
        resources = getattr(request, layout.resources)
        owners = [resources[r].resource for r in located.resources]
        owners += [getattr(resources[r], layout.scopes)[s].scope for r, s in located.scopes]
        items = [getattr(getattr(resources[r], layout.scopes)[s], layout.items)[k] for r, s, k in located.items]
        for owner in owners:
            self.owner(owner, tally)
        item = getattr(self, layout.item)
        for it in items:
            item(it, tally)
        return len(items)

    # --- owners of attributes ------------------------------------------------------

    def owner(self, owner: Any, tally: Tally) -> None:
        """A Resource or an InstrumentationScope."""
        if owner.attributes:
            ch = Changes(tally)
            self.attrs(owner.attributes, ch)
            ch.write_summary(owner.attributes, self.summary)

    def span(self, span: Any, tally: Tally) -> None:
        ch = Changes(tally)
        self.attrs(span.attributes, ch)
        if span.name:
            new = self.text(span.name, TEXT, ch, "name", keyed=False)
            if new is not None:
                span.name = new
        for event in span.events:
            self.attrs(event.attributes, ch)
        for link in span.links:
            self.attrs(link.attributes, ch)
        if span.HasField("status") and span.status.message:
            new = self.text(span.status.message, TEXT, ch, "status.message", keyed=False)
            if new is not None:
                span.status.message = new
        ch.write_summary(span.attributes, self.summary)

    def log_record(self, record: Any, tally: Tally) -> None:
        ch = Changes(tally)
        self.attrs(record.attributes, ch)
        if record.HasField("body"):
            body = record.body
            if body.WhichOneof("value") == "kvlist_value":
                self.attrs(body.kvlist_value.values, ch)
            else:
                self.value(body, TEXT, ch, "body", keyed=False)
        ch.write_summary(record.attributes, self.summary)

    def metric(self, metric: Any, tally: Tally) -> None:
        kind = metric.WhichOneof("data")
        if kind is None:
            return
        has_exemplars = kind != "summary"
        for dp in getattr(metric, kind).data_points:
            ch = Changes(tally)
            self.attrs(dp.attributes, ch)
            if has_exemplars:
                for exemplar in dp.exemplars:
                    self.attrs(exemplar.filtered_attributes, ch)
            ch.write_summary(dp.attributes, self.summary)

    # --- maps and values --------------------------------------------------------------

    def attrs(self, attributes: Any, ch: Changes) -> None:
        """A repeated KeyValue: attributes, or the entries of a map value."""
        doomed: list[int] | None = None
        key_rule, cached, short = self.key_rule, self.rules.cached_rewrite, self._short
        for i, kv in enumerate(attributes):
            key = kv.key
            rule = key_rule(key)
            action = rule.action
            if action is _VALUE:
                v = kv.value
                if v.WhichOneof("value") == "string_value":
                    s = v.string_value
                    if len(s) <= short:  # the common case, inlined: a short string
                        r = cached(s, rule.context, rule.mode)
                        if r is None:
                            continue
                        for rule_action in r.counts:
                            ch.count(*rule_action)
                        if not r.drop:
                            v.string_value = self.fit(r.text, ch)
                            ch.mask(key)
                            continue
                        ch.redact(key)
                        drop = True
                    else:
                        drop = self.value(v, rule, ch, key, keyed=True)
                else:
                    drop = self.value(v, rule, ch, key, keyed=True)
            elif action is _IGNORE:
                continue
            elif action is _DROP_KEY:
                ch.redact(key)
                ch.count("allowed_keys", "redact")
                drop = True
            else:
                drop = self.block(kv.value, ch, key)
            if drop:
                if doomed is None:
                    doomed = []
                doomed.append(i)
        if doomed:
            for i in reversed(doomed):
                del attributes[i]

    def value(self, v: Any, rule: KeyRule, ch: Changes, where: str, *, keyed: bool) -> bool:
        """Apply the rules to one AnyValue; True when its keyed entry is to be removed."""
        kind = v.WhichOneof("value")
        if kind == "string_value":
            new = self.text(v.string_value, rule, ch, where, keyed=keyed)
            if new is _DROP:
                return True
            if new is not None:
                v.string_value = new
        elif kind == "kvlist_value":
            entries = v.kvlist_value.values
            self.truncate(entries, ch)
            self.attrs(entries, ch)
        elif kind == "array_value":
            elements = v.array_value.values
            self.truncate(elements, ch)
            for element in elements:
                self.value(element, rule, ch, where, keyed=False)
        elif kind == "double_value" and rule.geo:
            return self.coordinate(v, ch, where, keyed)
        return False

    def text(self, s: str, rule: KeyRule, ch: Changes, where: str, *, keyed: bool) -> Any:
        """A string's replacement: None when unchanged, _DROP when its keyed entry goes."""
        long = self.max_len and len(s) > self.max_len
        window = s[: self.max_len + _LOOK_PAST_CUT] if long else s
        r = self.rewrite(window, rule.context, rule.mode)
        if r is not None:
            for rule_action in r.counts:
                ch.count(*rule_action)
            if r.drop and keyed:
                ch.redact(where)
                return _DROP
            ch.mask(where)
            window = r.text
            if long and len(s) <= self.max_len + _LOOK_PAST_CUT:
                return self.fit(window, ch)  # the window was the whole string
        if long:
            ch.truncate()
            return window[: self.max_len - 1] + TRUNCATION_MARK
        return self.fit(window, ch) if r is not None else None

    def fit(self, text: str, ch: Changes) -> str:
        """A rewritten string within the length limit (a hash is longer than what it hides)."""
        if self.max_len and len(text) > self.max_len:
            ch.truncate()
            return text[: self.max_len - 1] + TRUNCATION_MARK
        return text

    def block(self, v: Any, ch: Changes, where: str) -> bool:
        """A blocked key: its whole value is replaced (or the entry removed), whatever its type."""
        kind = v.WhichOneof("value")
        if kind is None:
            return False
        if kind == "string_value":
            text, data = v.string_value, b""
            if not text:
                return False
        elif kind in ("int_value", "double_value", "bool_value"):
            text, data = str(getattr(v, kind)), b""
        else:
            text, data = None, v.SerializeToString()
        new, drop, action = self.rules.whole_value("blocked_key", text, data)
        if kind == "string_value" and new == text:
            return False  # already masked
        ch.count("blocked_key", action)
        if drop:
            ch.redact(where)
            return True
        v.Clear()
        v.string_value = new
        ch.mask(where)
        return False

    def coordinate(self, v: Any, ch: Changes, where: str, keyed: bool) -> bool:
        """A number under a geo key: less precise, or the geo operator's stand-in."""
        if self.geo_action == ROUND:
            rounded = self.rules.geo.round_value(v.double_value)
            if rounded != v.double_value:
                v.double_value = rounded
                ch.count("geo", ROUND)
                ch.mask(where)
            return False
        new, drop, action = self.rules.whole_value("geo", repr(v.double_value), b"")
        ch.count("geo", action)
        if drop and keyed:
            ch.redact(where)
            return True
        v.Clear()
        v.string_value = new
        ch.mask(where)
        return False

    def truncate(self, repeated: Any, ch: Changes) -> None:
        if self.max_items and len(repeated) > self.max_items:
            del repeated[self.max_items:]
            ch.truncate()
