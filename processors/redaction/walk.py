"""Walking parsed OTLP messages and applying the rules in place.

The walker reads every string a request carries, ids aside: attribute keys
and values (string, bytes that are UTF-8 text, maps and arrays at any depth)
of resources, scopes, spans, events, links, log records, metrics (metadata),
data points and exemplars; resource entity references; scope names and
versions; schema URLs; span names, trace states, status messages, event
names and link trace states; log bodies, severity texts and event names;
metric names, descriptions and units. Arrays and maps inside values keep
``max_items`` items and strings ``max_string_length`` characters; a log body
that is a map is the record itself, like its attributes, and keeps every
field at its top level.
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

_VALUE, _IGNORE, _DROP_KEY, _BLOCK, _RENAME = (
    KeyAction.VALUE, KeyAction.IGNORE, KeyAction.DROP, KeyAction.BLOCK, KeyAction.RENAME)


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
            self.resource_entry(rx, tally)
            for sx in getattr(rx, layout.scopes):
                self.scope_entry(sx, tally)
                for it in getattr(sx, layout.items):
                    item(it, tally)
                    walked += 1
        return walked

    def walk_located(self, request: Any, layout: Layout, located: Located, tally: Tally) -> int:
        """Walk only what the scan hit. Every index is resolved before anything changes."""
        resources = getattr(request, layout.resources)
        resource_entries = [resources[r] for r in located.resources]
        scope_entries = [getattr(resources[r], layout.scopes)[s] for r, s in located.scopes]
        items = [getattr(getattr(resources[r], layout.scopes)[s], layout.items)[k] for r, s, k in located.items]
        for rx in resource_entries:
            self.resource_entry(rx, tally)
        for sx in scope_entries:
            self.scope_entry(sx, tally)
        item = getattr(self, layout.item)
        for it in items:
            item(it, tally)
        return len(items)

    # --- owners of attributes ------------------------------------------------------

    def resource_entry(self, entry: Any, tally: Tally) -> None:
        """A ResourceSpans/-Logs/-Metrics: its Resource and its schema URL."""
        ch = Changes(tally)
        resource = entry.resource
        if resource.attributes:
            self.attrs(resource.attributes, ch)
        for ref in resource.entity_refs:
            self.field(ref, "type", ch, "entity_refs.type")
            self.field(ref, "schema_url", ch, "entity_refs.schema_url")
            self.key_list(ref.id_keys, ch)
            self.key_list(ref.description_keys, ch)
        self.field(entry, "schema_url", ch, "schema_url")
        ch.write_summary(resource.attributes, self.summary)

    def scope_entry(self, entry: Any, tally: Tally) -> None:
        """A ScopeSpans/-Logs/-Metrics: its InstrumentationScope and its schema URL."""
        ch = Changes(tally)
        scope = entry.scope
        self.field(scope, "name", ch, "scope.name")
        self.field(scope, "version", ch, "scope.version")
        if scope.attributes:
            self.attrs(scope.attributes, ch)
        self.field(entry, "schema_url", ch, "schema_url")
        ch.write_summary(scope.attributes, self.summary)

    def span(self, span: Any, tally: Tally) -> None:
        ch = Changes(tally)
        self.attrs(span.attributes, ch)
        self.field(span, "name", ch, "name")
        self.field(span, "trace_state", ch, "trace_state")
        for event in span.events:
            self.field(event, "name", ch, "events.name")
            self.attrs(event.attributes, ch)
        for link in span.links:
            self.field(link, "trace_state", ch, "links.trace_state")
            self.attrs(link.attributes, ch)
        if span.HasField("status"):
            self.field(span.status, "message", ch, "status.message")
        ch.write_summary(span.attributes, self.summary)

    def log_record(self, record: Any, tally: Tally) -> None:
        ch = Changes(tally)
        self.attrs(record.attributes, ch)
        self.field(record, "severity_text", ch, "severity_text")
        self.field(record, "event_name", ch, "event_name")
        if record.HasField("body"):
            body = record.body
            if body.WhichOneof("value") == "kvlist_value":
                self.attrs(body.kvlist_value.values, ch)
            else:
                self.value(body, TEXT, ch, "body", keyed=False)
        ch.write_summary(record.attributes, self.summary)

    def metric(self, metric: Any, tally: Tally) -> None:
        ch = Changes(tally)
        for name in ("name", "description", "unit"):
            self.field(metric, name, ch, name)
        if metric.metadata:
            self.attrs(metric.metadata, ch)
        ch.write_summary(metric.metadata, self.summary)
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
        renamed: list[int] | None = None
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
            elif action is _RENAME:
                drop = self.rename(kv, rule, ch)
                if not drop:
                    if renamed is None:
                        renamed = []
                    renamed.append(i)
            else:
                drop = self.block(kv.value, ch, key)
            if drop:
                if doomed is None:
                    doomed = []
                doomed.append(i)
        if renamed:
            doomed = self.unique_keys(attributes, renamed, doomed or [], ch)
        if doomed:
            for i in sorted(doomed, reverse=True):
                del attributes[i]

    def rename(self, kv: Any, rule: KeyRule, ch: Changes) -> bool:
        """A key holding a finding: the key is rewritten by the finding's operator and its value
        read by the rules of the original key. True when the entry is to be removed
        (``redact`` drops an entry whose key holds a finding, as one whose value does)."""
        verdict = rule.rename
        for rule_action in verdict.counts:
            ch.count(*rule_action)
        if verdict.drop:
            ch.redact(verdict.text)
            return True
        kv.key = verdict.text
        ch.mask(verdict.text)
        inner = rule.inner
        if inner.action is _BLOCK:
            return self.block(kv.value, ch, verdict.text)
        return self.value(kv.value, inner, ch, verdict.text, keyed=True)

    def unique_keys(self, attributes: Any, renamed: list[int], doomed: list[int], ch: Changes) -> list[int]:
        """Keys stay unique (OTLP requires it; a Prometheus label set must): a rewritten key equal
        to a key already in the map loses, the first of the rewritten ones wins."""
        gone = set(doomed)
        moved = set(renamed)
        taken = {kv.key for i, kv in enumerate(attributes) if i not in gone and i not in moved}
        for i in renamed:
            key = attributes[i].key
            if key in taken:
                doomed.append(i)
                ch.redact(key)
                ch.count("duplicate_key", "redact")
            else:
                taken.add(key)
        return doomed

    def key_list(self, keys: Any, ch: Changes) -> None:
        """Attribute keys named by an entity reference, rewritten as the attributes' own keys."""
        doomed = []
        for i, key in enumerate(keys):
            verdict = self.key_rule(key).rename
            if verdict is None:
                continue
            for rule_action in verdict.counts:
                ch.count(*rule_action)
            if verdict.drop:
                ch.redact(verdict.text)
                doomed.append(i)
            else:
                keys[i] = verdict.text
                ch.mask(verdict.text)
        for i in reversed(doomed):
            del keys[i]

    def field(self, message: Any, name: str, ch: Changes, where: str) -> None:
        """A string field with no key of its own (a name, a schema URL): read as free text."""
        s = getattr(message, name)
        if s:
            new = self.text(s, TEXT, ch, where, keyed=False)
            if new is not None:
                setattr(message, name, new)

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
        elif kind == "bytes_value":
            return self.bytes_text(v, rule, ch, where, keyed)
        return False

    def bytes_text(self, v: Any, rule: KeyRule, ch: Changes, where: str, keyed: bool) -> bool:
        """Bytes that are UTF-8 text are read as a string (not truncated: they are not one);
        other bytes are binary and left as they are."""
        data = v.bytes_value
        if not data:
            return False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        r = self.rewrite(text, rule.context, rule.mode)
        if r is None:
            return False
        for rule_action in r.counts:
            ch.count(*rule_action)
        if r.drop and keyed:
            ch.redact(where)
            return True
        v.bytes_value = r.text.encode("utf-8")
        ch.mask(where)
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
