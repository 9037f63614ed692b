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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from processors.api import Signal
from processors.redaction.audit import Changes, Tally
from processors.redaction.config import RedactionConfig
from processors.redaction.locate import Located
from processors.redaction.rules import (
    CACHE_MAX_VALUE_LENGTH,
    ROUND,
    TEXT,
    KeyAction,
    KeyRule,
    Rewrite,
    RuleSet,
    Taint,
)

TRUNCATION_MARK = "…"
# Detectors look a little past the cut, so that a value straddling it is still recognised.
_LOOK_PAST_CUT = 1024
_DROP = object()  # a keyed entry to remove

_VALUE, _IGNORE, _DROP_KEY, _BLOCK, _RENAME = (
    KeyAction.VALUE, KeyAction.IGNORE, KeyAction.DROP, KeyAction.BLOCK, KeyAction.RENAME)


class Record(Changes):
    """What happened inside one record (a span with its events and links, a log record, a data
    point, a resource, a scope), and the values replaced in it that spread to the rest (taint)."""

    __slots__ = ("taint",)

    def __init__(self, tally: Tally, rules: RuleSet) -> None:
        super().__init__(tally)
        self.taint = rules.taint()


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
        self.request_taint = config.taint.enabled and config.taint.scope == "request"
        # Strings this short need neither truncation nor the uncached path.
        self._short = min(self.max_len or CACHE_MAX_VALUE_LENGTH, CACHE_MAX_VALUE_LENGTH)

    # --- requests ---------------------------------------------------------------

    def walk_all(self, request: Any, layout: Layout, tally: Tally) -> int:
        item = getattr(self, layout.item)
        sink = self.rules.taint() if self.request_taint else None
        walked = 0
        for rx in getattr(request, layout.resources):
            self.resource_entry(rx, tally, sink)
            for sx in getattr(rx, layout.scopes):
                self.scope_entry(sx, tally, sink)
                for it in getattr(sx, layout.items):
                    item(it, tally, sink)
                    walked += 1
        if sink:
            self.taint_request(request, layout, sink, tally)
        return walked

    def walk_located(self, request: Any, layout: Layout, located: Located, tally: Tally) -> int:
        """Walk only what the scan hit. Every index is resolved before anything changes.

        With ``taint.scope: request``, a value replaced in a walked item is then looked for in
        the whole request (items without a hit hold no finding, but may repeat one)."""
        resources = getattr(request, layout.resources)
        resource_entries = [resources[r] for r in located.resources]
        scope_entries = [getattr(resources[r], layout.scopes)[s] for r, s in located.scopes]
        items = [getattr(getattr(resources[r], layout.scopes)[s], layout.items)[k] for r, s, k in located.items]
        sink = self.rules.taint() if self.request_taint else None
        for rx in resource_entries:
            self.resource_entry(rx, tally, sink)
        for sx in scope_entries:
            self.scope_entry(sx, tally, sink)
        item = getattr(self, layout.item)
        for it in items:
            item(it, tally, sink)
        if sink:
            self.taint_request(request, layout, sink, tally)
        return len(items)

    # --- owners of attributes ------------------------------------------------------

    def resource_entry(self, entry: Any, tally: Tally, sink: Taint | None = None) -> None:
        """A ResourceSpans/-Logs/-Metrics: its Resource and its schema URL."""
        ch = Record(tally, self.rules)
        resource = entry.resource
        if resource.attributes:
            self.attrs(resource.attributes, ch)
        for ref in resource.entity_refs:
            self.field(ref, "type", ch, "entity_refs.type")
            self.field(ref, "schema_url", ch, "entity_refs.schema_url")
            self.key_list(ref.id_keys, ch)
            self.key_list(ref.description_keys, ch)
        self.field(entry, "schema_url", ch, "schema_url")
        self.spread(ch, sink, self.taint_resource_entry, entry)
        ch.write_summary(resource.attributes, self.summary)

    def scope_entry(self, entry: Any, tally: Tally, sink: Taint | None = None) -> None:
        """A ScopeSpans/-Logs/-Metrics: its InstrumentationScope and its schema URL."""
        ch = Record(tally, self.rules)
        scope = entry.scope
        self.field(scope, "name", ch, "scope.name")
        self.field(scope, "version", ch, "scope.version")
        if scope.attributes:
            self.attrs(scope.attributes, ch)
        self.field(entry, "schema_url", ch, "schema_url")
        self.spread(ch, sink, self.taint_scope_entry, entry)
        ch.write_summary(scope.attributes, self.summary)

    def span(self, span: Any, tally: Tally, sink: Taint | None = None) -> None:
        ch = Record(tally, self.rules)
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
        self.spread(ch, sink, self.taint_span, span)
        ch.write_summary(span.attributes, self.summary)

    def log_record(self, record: Any, tally: Tally, sink: Taint | None = None) -> None:
        ch = Record(tally, self.rules)
        self.attrs(record.attributes, ch)
        self.field(record, "severity_text", ch, "severity_text")
        self.field(record, "event_name", ch, "event_name")
        if record.HasField("body"):
            body = record.body
            if body.WhichOneof("value") == "kvlist_value":
                self.attrs(body.kvlist_value.values, ch)
            else:
                self.value(body, TEXT, ch, "body", keyed=False)
        self.spread(ch, sink, self.taint_log_record, record)
        ch.write_summary(record.attributes, self.summary)

    def metric(self, metric: Any, tally: Tally, sink: Taint | None = None) -> None:
        ch = Record(tally, self.rules)
        for name in ("name", "description", "unit"):
            self.field(metric, name, ch, name)
        if metric.metadata:
            self.attrs(metric.metadata, ch)
        self.spread(ch, sink, self.taint_metric, metric)
        ch.write_summary(metric.metadata, self.summary)
        kind = metric.WhichOneof("data")
        if kind is None:
            return
        has_exemplars = kind != "summary"
        for dp in getattr(metric, kind).data_points:
            ch = Record(tally, self.rules)
            self.attrs(dp.attributes, ch)
            if has_exemplars:
                for exemplar in dp.exemplars:
                    self.attrs(exemplar.filtered_attributes, ch)
            self.spread(ch, sink, self.taint_data_point, dp)
            ch.write_summary(dp.attributes, self.summary)

    # --- taint: replaced values, wherever else they appear ----------------------------

    def spread(self, ch: Record, sink: Taint | None, taint_owner: Callable[[Any, Taint, Record], None],
               owner: Any) -> None:
        """After an owner is walked: its replaced values go to the request's set (scope request),
        or are replaced in the rest of the owner at once (scope record)."""
        if not ch.taint:
            return
        if sink is not None:
            sink.update(ch.taint)
        else:
            taint_owner(owner, ch.taint, ch)

    def taint_request(self, request: Any, layout: Layout, taint: Taint, tally: Tally) -> None:
        """Replace the values of ``taint`` in every owner of a request."""
        item = getattr(self, f"taint_{layout.item}")
        for rx in getattr(request, layout.resources):
            self._taint_with_summary(self.taint_resource_entry, rx, taint, tally, rx.resource.attributes)
            for sx in getattr(rx, layout.scopes):
                self._taint_with_summary(self.taint_scope_entry, sx, taint, tally, sx.scope.attributes)
                for it in getattr(sx, layout.items):
                    if layout.item != "metric":
                        self._taint_with_summary(item, it, taint, tally, it.attributes)
                        continue
                    self._taint_with_summary(item, it, taint, tally, it.metadata)
                    kind = it.WhichOneof("data")
                    for dp in getattr(it, kind).data_points if kind is not None else ():
                        self._taint_with_summary(self.taint_data_point, dp, taint, tally, dp.attributes)

    def _taint_with_summary(self, taint_owner: Callable[[Any, Taint, Record], None], owner: Any, taint: Taint,
                            tally: Tally, summary_attributes: Any) -> None:
        ch = Record(tally, self.rules)
        taint_owner(owner, taint, ch)
        ch.write_summary(summary_attributes, self.summary)

    def taint_resource_entry(self, entry: Any, taint: Taint, ch: Record) -> None:
        self.taint_attrs(entry.resource.attributes, taint, ch)
        self.taint_field(entry, "schema_url", taint, ch, "schema_url")

    def taint_scope_entry(self, entry: Any, taint: Taint, ch: Record) -> None:
        scope = entry.scope
        self.taint_field(scope, "name", taint, ch, "scope.name")
        self.taint_field(scope, "version", taint, ch, "scope.version")
        self.taint_attrs(scope.attributes, taint, ch)
        self.taint_field(entry, "schema_url", taint, ch, "schema_url")

    def taint_span(self, span: Any, taint: Taint, ch: Record) -> None:
        self.taint_attrs(span.attributes, taint, ch)
        self.taint_field(span, "name", taint, ch, "name")
        for event in span.events:
            self.taint_field(event, "name", taint, ch, "events.name")
            self.taint_attrs(event.attributes, taint, ch)
        for link in span.links:
            self.taint_attrs(link.attributes, taint, ch)
        if span.HasField("status"):
            self.taint_field(span.status, "message", taint, ch, "status.message")

    def taint_log_record(self, record: Any, taint: Taint, ch: Record) -> None:
        self.taint_attrs(record.attributes, taint, ch)
        if record.HasField("body"):
            body = record.body
            if body.WhichOneof("value") == "kvlist_value":
                self.taint_attrs(body.kvlist_value.values, taint, ch)
            else:
                self.taint_value(body, taint, ch, "body", keyed=False)

    def taint_metric(self, metric: Any, taint: Taint, ch: Record) -> None:
        for name in ("name", "description", "unit"):
            self.taint_field(metric, name, taint, ch, name)
        self.taint_attrs(metric.metadata, taint, ch)

    def taint_data_point(self, dp: Any, taint: Taint, ch: Record) -> None:
        self.taint_attrs(dp.attributes, taint, ch)
        for exemplar in getattr(dp, "exemplars", ()):
            self.taint_attrs(exemplar.filtered_attributes, taint, ch)

    def taint_attrs(self, attributes: Any, taint: Taint, ch: Record) -> None:
        doomed = []
        for i, kv in enumerate(attributes):
            if self.key_rule(kv.key).action is _IGNORE:
                continue
            if self.taint_value(kv.value, taint, ch, kv.key, keyed=True):
                doomed.append(i)
        for i in reversed(doomed):
            del attributes[i]

    def taint_value(self, v: Any, taint: Taint, ch: Record, where: str, *, keyed: bool) -> bool:
        """Replace tainted values in one AnyValue; True when its keyed entry is to be removed."""
        kind = v.WhichOneof("value")
        if kind == "string_value":
            r = taint.rewrite(v.string_value)
            if r is None:
                return False
            if self._tainted(r, ch, where, keyed):
                return True
            v.string_value = r.text
        elif kind == "kvlist_value":
            self.taint_attrs(v.kvlist_value.values, taint, ch)
        elif kind == "array_value":
            for element in v.array_value.values:
                self.taint_value(element, taint, ch, where, keyed=False)
        elif kind == "bytes_value":
            try:
                text = v.bytes_value.decode("utf-8")
            except UnicodeDecodeError:
                return False
            r = taint.rewrite(text)
            if r is None:
                return False
            if self._tainted(r, ch, where, keyed):
                return True
            v.bytes_value = r.text.encode("utf-8")
        return False

    def taint_field(self, message: Any, name: str, taint: Taint, ch: Record, where: str) -> None:
        s = getattr(message, name)
        if s:
            r = taint.rewrite(s)
            if r is not None:
                self._tainted(r, ch, where, keyed=False)
                setattr(message, name, r.text)

    @staticmethod
    def _tainted(r: Rewrite, ch: Record, where: str, keyed: bool) -> bool:
        for rule_action in r.counts:
            ch.count(*rule_action)
        if r.drop and keyed:
            ch.redact(where)
            return True
        ch.mask(where)
        return False

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
                        if r.spread:
                            _collect(ch, r)
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
        if verdict.spread:
            _collect(ch, verdict)
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
        if r.spread:
            _collect(ch, r)
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
            if r.spread:
                _collect(ch, r)
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
        if text is not None and len(text) >= self.rules.taint_min_length > 0:
            taint = getattr(ch, "taint", None)
            if taint is None:
                _needs_record()
            taint.add_whole(text, "blocked_key")
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


def _collect(ch: Changes, r: Rewrite) -> None:
    """Findings of a verdict that spread to the rest of the record (a Record keeps them)."""
    taint = getattr(ch, "taint", None)
    if taint is None:
        _needs_record()
    taint.add_rewrite(r)


def _needs_record() -> None:
    """A value that spreads was replaced by a caller that reads one value at a time (the wire
    splice): the rest of its record must be read too, so the request takes the parse-and-walk path."""
    from processors.redaction.splice import Fallback  # here: splice imports this module

    raise Fallback("a replaced value may repeat elsewhere in its record")
