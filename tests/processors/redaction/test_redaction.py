"""The redaction processor on real OTLP requests: what it covers, what each rule
does, the fast path, the audit, and that no value ever reaches a log or a metric."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench.common import span_request
from processors.api import MalformedPayload, Payload, Signal
from processors.redaction.audit import FASTPATH, FINDINGS, ITEMS_WALKED, MASKED_COUNT, MASKED_KEYS, REDACTED_COUNT
from processors.telemetry import SelfTelemetry
from tests.processors.redaction.builders import (
    FIELDS,
    SIGNAL_OF,
    any_value,
    entries,
    kv,
    plant,
    read,
    request,
    run,
    text_of,
)
from tests.processors.redaction.conftest import HMAC_KEY

EMAIL = "anna.smith@mail.example.org"
PHONE = "+49 151 23456789"
CARD = "4111 1111 1111 1111"


def digest(normalized: str) -> str:
    return hmac.new(HMAC_KEY.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def one(field: str, value, key: str | None = None):
    req = request(SIGNAL_OF[field])
    plant(req, field, value, key)
    return req


def fastpath(telemetry: SelfTelemetry, signal: str, result: str) -> float:
    return telemetry.value(f"{FASTPATH}_total", processor="redaction", signal=signal, result=result)


def findings(telemetry: SelfTelemetry, **labels: str) -> float:
    return telemetry.total(f"{FINDINGS}_total", **labels)


class TestCoverage:
    @pytest.mark.parametrize("field", FIELDS)
    def test_an_email_is_masked_in_every_field(self, make_processor, field):
        out = run(make_processor(), one(field, f"contact {EMAIL} today"), SIGNAL_OF[field])
        assert text_of(read(entries(out)[0], field)) == "contact **** today"

    def test_nested_log_bodies_are_walked_to_the_bottom(self, make_processor):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.body.CopyFrom(any_value({"user": {"contacts": [{"mail": EMAIL}, f"call {PHONE}"]}, "n": 3}))
        out = run(make_processor(), req, Signal.LOGS)
        body = out.resource_logs[0].scope_logs[0].log_records[0].body
        contacts = body.kvlist_value.values[0].value.kvlist_value.values[0].value.array_value.values
        assert contacts[0].kvlist_value.values[0].value.string_value == "****"
        assert contacts[1].string_value == "call ****"
        assert body.kvlist_value.values[1].value.int_value == 3

    def test_metric_points_of_every_type_are_covered(self, make_processor):
        req = ExportMetricsServiceRequest()
        metrics = req.resource_metrics.add().scope_metrics.add()
        for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
            dp = getattr(metrics.metrics.add(name=kind), kind).data_points.add()
            dp.attributes.append(kv("user", EMAIL))
        out = run(make_processor(), req, Signal.METRICS)
        for metric in out.resource_metrics[0].scope_metrics[0].metrics:
            dp = getattr(metric, metric.WhichOneof("data")).data_points[0]
            assert dp.attributes[0].value.string_value == "****", metric.name


class TestRules:
    def test_blocked_keys_replace_values_of_any_type(self, make_processor):
        req = one("span_attr", "x")
        attrs = entries(req)[0].scope_spans[0].spans[0].attributes
        attrs.extend([kv("db.password", "hunter2"), kv("x-auth-token", 12345),
                      kv("http.request.header.authorization", ["Bearer abc"]), kv("aws.s3.key", "u/42/passport.jpg"),
                      kv("gen_ai.usage.input_tokens", 512), kv("wa.message.body", "hi there")])
        out = run(make_processor(), req, Signal.TRACES)
        got = {a.key: text_of(a.value) for a in entries(out)[0].scope_spans[0].spans[0].attributes}
        assert got["db.password"] == got["x-auth-token"] == got["http.request.header.authorization"] == "****"
        assert got["aws.s3.key"] == got["wa.message.body"] == "****"
        assert got["gen_ai.usage.input_tokens"] == "int_value: 512\n"  # a count, not a token

    def test_redact_removes_keyed_entries_and_cuts_text_elsewhere(self, make_processor):
        processor = make_processor({"operator": "redact"})
        out = run(processor, one("span_attr", f"mail {EMAIL}", key="user.contact"), Signal.TRACES)
        assert read(entries(out)[0], "span_attr", "user.contact") is None
        out = run(processor, one("log_body_string", f"mail {EMAIL} sent"), Signal.LOGS)
        assert text_of(read(entries(out)[0], "log_body_string")) == "mail  sent"
        out = run(processor, one("log_body_array", f"mail {EMAIL}"), Signal.LOGS)
        assert text_of(read(entries(out)[0], "log_body_array")) == "mail "

    def test_hashes_join_across_signals_and_spellings(self, make_processor):
        processor = make_processor({"operators": {"phone": "hash", "email": "hash"}, "hash_key": HMAC_KEY})
        span = run(processor, one("span_attr", PHONE), Signal.TRACES)
        log = run(processor, one("log_body_string", "from 4915123456789@s.whatsapp.net"), Signal.LOGS)
        metric = run(processor, one("metric_dp_attr", "+4915123456789"), Signal.METRICS)
        expected = digest("+4915123456789")
        assert text_of(read(entries(span)[0], "span_attr")) == expected
        assert text_of(read(entries(log)[0], "log_body_string")) == f"from {expected}@s.whatsapp.net"
        assert text_of(read(entries(metric)[0], "metric_dp_attr")) == expected
        mail = run(processor, one("log_attr", EMAIL.upper()), Signal.LOGS)
        assert text_of(read(entries(mail)[0], "log_attr")) == digest(EMAIL)

    def test_geo_is_reduced_in_precision(self, make_processor):
        processor = make_processor()
        out = run(processor, one("span_attr", 52.520008, key="geo.location.lat"), Signal.TRACES)
        assert read(entries(out)[0], "span_attr", "geo.location.lat").double_value == 52.52
        out = run(processor, one("log_body_string", "at 52.520008, 13.404954"), Signal.LOGS)
        assert text_of(read(entries(out)[0], "log_body_string")) == "at 52.52, 13.40"
        out = run(processor, one("span_attr", "48.856613", key="geo.location.lon"), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr", "geo.location.lon")) == "48.86"

    def test_geo_can_be_hashed_instead(self, make_processor):
        processor = make_processor({"operators": {"geo": "hash"}, "hash_key": HMAC_KEY})
        out = run(processor, one("span_attr", 52.520008, key="geo.location.lat"), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr", "geo.location.lat")) == digest("52.520008")

    def test_urls_lose_query_values_and_userinfo(self, make_processor):
        processor = make_processor()
        out = run(processor, one("span_attr", "https://bob:pw@shop.example/cart?coupon=X1&id=9", key="url.full"),
                  Signal.TRACES)
        # pw@shop.example is an address too: overlapping findings merge, so no part of either survives.
        assert text_of(read(entries(out)[0], "span_attr", "url.full")) == "https://****/cart?coupon=****&id=****"
        out = run(processor, one("span_attr", "https://svc:s3cr3t@10.0.0.5:8080/x", key="url.full"), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr", "url.full")) == "https://****@****:8080/x"
        out = run(processor, one("span_attr", "q=anna+smith&page=2", key="url.query"), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr", "url.query")) == "q=****&page=****"

    def test_sql_literals_become_placeholders(self, make_processor):
        statement = "SELECT id FROM users WHERE email = 'anna@x.de' AND age > 30"
        out = run(make_processor(), one("span_attr", statement, key="db.query.text"), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr", "db.query.text")) == \
            "SELECT id FROM users WHERE email = ? AND age > ?"

    def test_blocked_and_allowed_values(self, make_processor):
        processor = make_processor({"blocked_values": ["cust-[0-9]{6}"], "allowed_values": [r"@mail\.example\.org$"]})
        out = run(processor, one("log_body_string", f"cust-123456 is {EMAIL}, not li@proton.me"), Signal.LOGS)
        assert text_of(read(entries(out)[0], "log_body_string")) == f"**** is {EMAIL}, not ****"

    def test_ignored_keys_pass_untouched(self, make_processor):
        processor = make_processor({"ignored_keys": ["client.address"]})
        out = run(processor, one("span_attr", "203.0.113.7", key="client.address"), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr", "client.address")) == "203.0.113.7"

    def test_allow_list_mode_keeps_only_listed_keys(self, make_processor):
        telemetry = SelfTelemetry()
        processor = make_processor({"allow_all_keys": False, "allowed_keys": ["service.name", "http.route"],
                                    "summary": "info"}, telemetry)
        out = run(processor, one("span_attr", "fine"), Signal.TRACES)
        span = entries(out)[0].scope_spans[0].spans[0]
        assert {a.key for a in span.attributes} == {"http.route", REDACTED_COUNT}
        assert entries(out)[0].resource.attributes[0].key == "service.name"
        assert fastpath(telemetry, "traces", "whole") == 1
        assert findings(telemetry, rule="allowed_keys", action="redact") == 4  # three on the span, one on its event

    def test_values_identifiers_stay_whole(self, make_processor):
        raw = span_request(64).SerializeToString()
        out = make_processor().process(Payload(Signal.TRACES, raw=raw))
        assert out.raw is raw


class TestTruncation:
    def test_arrays_and_maps_in_values_keep_ten_items(self, make_processor):
        req = one("span_attr", list(range(25)), key="ids")
        entries(req)[0].scope_spans[0].spans[0].attributes.append(kv("tags", {f"k{i}": i for i in range(12)}))
        out = run(make_processor(), req, Signal.TRACES)
        attrs = {a.key: a.value for a in entries(out)[0].scope_spans[0].spans[0].attributes}
        assert [v.int_value for v in attrs["ids"].array_value.values] == list(range(10))
        assert [kv_.key for kv_ in attrs["tags"].kvlist_value.values] == [f"k{i}" for i in range(10)]

    def test_a_map_body_is_the_record_and_keeps_its_fields(self, make_processor):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.body.CopyFrom(any_value({f"field{i}": i for i in range(14)} | {"list": list(range(20))}))
        out = run(make_processor(), req, Signal.LOGS)
        values = out.resource_logs[0].scope_logs[0].log_records[0].body.kvlist_value.values
        assert len(values) == 15 and len(values[14].value.array_value.values) == 10

    def test_long_strings_are_cut_and_marked(self, make_processor):
        out = run(make_processor({"truncation": {"max_string_length": 100}}), one("log_body_string", "x" * 5000),
                  Signal.LOGS)
        body = text_of(read(entries(out)[0], "log_body_string"))
        assert body == "x" * 99 + "…"

    def test_a_replacement_never_makes_a_string_longer_than_the_limit(self, make_processor):
        processor = make_processor({"operator": "hash", "hash_key": HMAC_KEY,
                                    "truncation": {"max_string_length": 40}})
        out = run(processor, one("span_attr", f"to {EMAIL}"), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr")) == f"to {digest(EMAIL)}"[:39] + "…"

    def test_pii_straddling_the_cut_is_still_found(self, make_processor):
        text = "x" * 95 + " " + EMAIL + " tail"
        out = run(make_processor({"truncation": {"max_string_length": 100}}), one("log_body_string", text),
                  Signal.LOGS)
        assert text_of(read(entries(out)[0], "log_body_string")) == "x" * 95 + " ***…"


class TestFastPath:
    def test_a_clean_request_is_forwarded_as_its_own_bytes_unparsed(self, make_processor):
        telemetry = SelfTelemetry()
        raw = span_request(128).SerializeToString()
        payload = Payload(Signal.TRACES, raw=raw)
        out = make_processor(telemetry=telemetry).process(payload)
        assert out is payload and not out.parsed and out.raw is raw
        assert fastpath(telemetry, "traces", "clean") == 1

    def test_only_the_items_that_hit_are_walked(self, make_processor):
        telemetry = SelfTelemetry()
        req = span_request(100)
        spans = req.resource_spans[0].scope_spans[0].spans
        spans[7].attributes.append(kv("user", EMAIL))
        spans[63].name = f"GET /users/{EMAIL}"
        out = run(make_processor(telemetry=telemetry), req, Signal.TRACES)
        assert fastpath(telemetry, "traces", "located") == 1
        assert telemetry.value(f"{ITEMS_WALKED}_total", processor="redaction", signal="traces") == 2
        got = out.resource_spans[0].scope_spans[0].spans
        assert got[7].attributes[-1].value.string_value == "****" and got[63].name == "GET /users/****"
        for i in set(range(100)) - {7, 63}:
            assert got[i] == spans[i]

    def test_a_false_alarm_keeps_the_original_bytes(self, make_processor):
        req = one("span_attr", "order 4111 1111 1111 1112")  # card shaped, Luhn fails
        raw = req.SerializeToString()
        out = make_processor().process(Payload(Signal.TRACES, raw=raw))
        assert not out.parsed and not out.modified and out.raw is raw

    def test_a_clean_request_with_a_big_array_is_still_truncated(self, make_processor):
        out = run(make_processor(), one("span_attr", [f"v{i}" for i in range(30)], key="tags"), Signal.TRACES)
        assert len(read(entries(out)[0], "span_attr", "tags").array_value.values) == 10

    def test_a_clean_request_with_a_long_string_is_still_truncated(self, make_processor):
        telemetry = SelfTelemetry()
        processor = make_processor({"truncation": {"max_string_length": 64}}, telemetry)
        out = run(processor, one("span_attr", "z" * 500), Signal.TRACES)
        assert text_of(read(entries(out)[0], "span_attr")) == "z" * 63 + "…"
        assert fastpath(telemetry, "traces", "whole") == 1

    @pytest.mark.parametrize("field", FIELDS)
    def test_both_engines_give_the_same_output(self, make_processor, field):
        value = f"{EMAIL} {PHONE} {CARD} 203.0.113.7 v1.2.3"
        hs = run(make_processor({"scan_engine": "hyperscan"}), one(field, value), SIGNAL_OF[field])
        r2 = run(make_processor({"scan_engine": "re2"}), one(field, value), SIGNAL_OF[field])
        assert hs == r2 and text_of(read(entries(hs)[0], field)) == "**** **** **** **** v1.2.3"

    def test_fast_path_off_walks_everything(self, make_processor):
        telemetry = SelfTelemetry()
        payload = Payload(Signal.TRACES, raw=span_request(10).SerializeToString())
        out = make_processor({"fast_path": False}, telemetry).process(payload)
        assert out.parsed and not out.modified
        assert fastpath(telemetry, "traces", "whole") == 1

    def test_malformed_bytes_with_a_hit_raise_malformed_payload(self, make_processor):
        raw = b"\x0a\x7f" + EMAIL.encode()
        with pytest.raises(MalformedPayload):
            make_processor().process(Payload(Signal.LOGS, raw=raw))


class TestAudit:
    def test_counters_per_rule_and_signal(self, make_processor):
        telemetry = SelfTelemetry()
        processor = make_processor(telemetry=telemetry)
        run(processor, one("span_attr", f"{EMAIL} and {CARD}"), Signal.TRACES)
        run(processor, one("log_attr", EMAIL), Signal.LOGS)
        assert findings(telemetry, signal="traces", rule="email", action="mask") == 1
        assert findings(telemetry, signal="traces", rule="credit_card", action="mask") == 1
        assert findings(telemetry, signal="logs", rule="email", action="mask") == 1
        assert findings(telemetry, signal="metrics") == 0

    @pytest.mark.parametrize(("level", "present"), [
        ("silent", set()), ("info", {MASKED_COUNT}), ("debug", {MASKED_COUNT, MASKED_KEYS}),
    ])
    def test_summary_attributes_carry_counts_and_keys_never_values(self, make_processor, level, present):
        req = one("span_attr", EMAIL, key="user.mail")
        entries(req)[0].scope_spans[0].spans[0].name = f"GET /u/{EMAIL}"
        out = run(make_processor({"summary": level}), req, Signal.TRACES)
        attrs = {a.key: a.value for a in entries(out)[0].scope_spans[0].spans[0].attributes}
        assert present <= set(attrs) and not ({MASKED_COUNT, MASKED_KEYS} - present) & set(attrs)
        if level != "silent":
            assert attrs[MASKED_COUNT].int_value == 2
        if level == "debug":
            assert attrs[MASKED_KEYS].string_value == "name,user.mail"
        assert "anna" not in str(out)

    def test_summary_counts_add_up_across_passes(self, make_processor):
        processor = make_processor({"summary": "info"})
        out = run(processor, run(processor, one("span_attr", EMAIL), Signal.TRACES), Signal.TRACES)
        attrs = {a.key: a.value for a in entries(out)[0].scope_spans[0].spans[0].attributes}
        assert attrs[MASKED_COUNT].int_value == 1  # the second pass found nothing new

    def test_no_value_reaches_logs_or_metrics(self, make_processor, caplog):
        telemetry = SelfTelemetry()
        caplog.set_level(logging.DEBUG)
        processor = make_processor({"summary": "debug"}, telemetry)
        for field in FIELDS:
            run(processor, one(field, f"{EMAIL} {PHONE} {CARD}"), SIGNAL_OF[field])
        # Names and label values only: sample values (counts, `_created` timestamps) may hold any digits.
        labels = " ".join(f"{s.name} {' '.join(s.labels.values())}"
                          for fam in text_string_to_metric_families(generate_latest(telemetry.registry).decode())
                          for s in fam.samples)
        messages = " ".join(r.getMessage() for r in caplog.records)  # not caplog.text: it holds line numbers
        for secret in ("anna", "151", "4111"):
            assert secret not in messages and secret not in labels

    def test_repeated_values_are_answered_by_the_cache(self, make_processor):
        telemetry = SelfTelemetry()
        processor = make_processor(telemetry=telemetry)
        for _ in range(5):
            run(processor, one("span_attr", EMAIL), Signal.TRACES)
        hits = telemetry.value("otelproc_redaction_cache_hits_total", processor="redaction")
        misses = telemetry.value("otelproc_redaction_cache_misses_total", processor="redaction")
        assert hits >= 4 * misses > 0


class TestTaint:
    SECRET = "Xq7-long-enough-secret"

    def span_request(self, *, blocked_in_event: bool = False) -> ExportTraceServiceRequest:
        req = ExportTraceServiceRequest()
        sp = req.resource_spans.add().scope_spans.add().spans.add(name="login")
        target = sp.events.add(name="auth").attributes if blocked_in_event else sp.attributes
        target.append(kv("db.password", self.SECRET))
        sp.attributes.append(kv("app.note", f"login failed with {self.SECRET} for bob"))
        sp.status.message = f"bad credential {self.SECRET}"
        sp.links.add().attributes.append(kv("link.note", f"same as {self.SECRET}"))
        return req

    @pytest.mark.parametrize("blocked_in_event", [False, True])
    @pytest.mark.parametrize("config", [{}, {"fast_path": False}, {"scan_engine": "re2"}])
    def test_a_blocked_value_is_replaced_wherever_its_span_repeats_it(self, make_processor, config, blocked_in_event):
        out = run(make_processor(config), self.span_request(blocked_in_event=blocked_in_event), Signal.TRACES)
        sp = out.resource_spans[0].scope_spans[0].spans[0]
        assert self.SECRET not in str(sp)
        assert text_of(next(a.value for a in sp.attributes if a.key == "app.note")) == "login failed with **** for bob"
        assert sp.status.message == "bad credential ****"

    def test_a_log_body_repeating_a_blocked_attribute_loses_it_and_is_counted(self, make_processor):
        telemetry = SelfTelemetry()
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.body.string_value = f"retrying login with '{self.SECRET}'"
        rec.attributes.append(kv("http.request.header.cookie", f"theme=dark; sessionid={self.SECRET}"))
        out = run(make_processor({}, telemetry), req, Signal.LOGS)
        assert out.resource_logs[0].scope_logs[0].log_records[0].body.string_value == "retrying login with '****'"
        assert findings(telemetry, rule="taint", action="mask") == 1

    def test_a_value_a_detector_found_spreads_with_its_operator(self, make_processor):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.attributes.append(kv("config.dump", f"db_password={self.SECRET} pool=5"))
        rec.body.CopyFrom(any_value({"msg": f"connecting as {self.SECRET}"}))
        out = run(make_processor({"operators": {"api_key": "hash"}, "hash_key": HMAC_KEY}), req, Signal.LOGS)
        rec = out.resource_logs[0].scope_logs[0].log_records[0]
        assert rec.body.kvlist_value.values[0].value.string_value == f"connecting as {digest(self.SECRET)}"

    def test_a_data_point_is_a_record_of_its_own(self, make_processor):
        req = ExportMetricsServiceRequest()
        metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="logins")
        dirty = metric.sum.data_points.add(as_int=1)
        dirty.attributes.extend([kv("user.passphrase", self.SECRET), kv("reason", f"bad {self.SECRET}")])
        clean = metric.sum.data_points.add(as_int=1)
        clean.attributes.append(kv("reason", f"bad {self.SECRET}"))
        out = run(make_processor(), req, Signal.METRICS)
        dirty_out, clean_out = out.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
        assert text_of(dirty_out.attributes[1].value) == "bad ****"
        assert text_of(clean_out.attributes[0].value) == f"bad {self.SECRET}"  # scope record: not spread

    @pytest.mark.parametrize("config", [{}, {"fast_path": False}])
    def test_scope_request_spreads_to_every_item_even_those_without_a_hit(self, make_processor, config):
        req = ExportLogsServiceRequest()
        sl = req.resource_logs.add().scope_logs.add()
        sl.log_records.add().attributes.append(kv("db.password", self.SECRET))
        sl.log_records.add().body.string_value = f"hello {self.SECRET}"  # no rule hits this record
        other = req.resource_logs.add()
        other.resource.attributes.append(kv("process.command_line", f"app --db-pass {self.SECRET}"))
        out = run(make_processor({**config, "taint": {"scope": "request"}}), req, Signal.LOGS)
        assert self.SECRET not in str(out)
        assert out.resource_logs[0].scope_logs[0].log_records[1].body.string_value == "hello ****"
        record_scope = run(make_processor(config), req, Signal.LOGS)
        assert record_scope.resource_logs[0].scope_logs[0].log_records[1].body.string_value == f"hello {self.SECRET}"

    @pytest.mark.parametrize(("blocked", "text"), [("true", "retry=true"), ("1", "window 1 of 3"),
                                                   ("12345", "code 12345 sent")])
    def test_values_shorter_than_min_length_never_spread(self, make_processor, blocked, text):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.attributes.append(kv("http.cookie.secure", blocked))
        rec.body.string_value = text
        out = run(make_processor(), req, Signal.LOGS)
        assert out.resource_logs[0].scope_logs[0].log_records[0].body.string_value == text

    def test_a_value_spreads_to_whole_words_only_and_not_when_off(self, make_processor):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.attributes.append(kv("db.password", "rotate2024"))
        rec.body.string_value = "rotate2024 done; rotate20245 is another word"
        out = run(make_processor(), req, Signal.LOGS)
        assert out.resource_logs[0].scope_logs[0].log_records[0].body.string_value == (
            "**** done; rotate20245 is another word")
        off = run(make_processor({"taint": {"enabled": False}}), req, Signal.LOGS)
        assert off.resource_logs[0].scope_logs[0].log_records[0].body.string_value == rec.body.string_value

    def test_redact_removes_an_entry_that_repeats_the_value(self, make_processor):
        req = self.span_request()
        out = run(make_processor({"operator": "redact"}), req, Signal.TRACES)
        sp = out.resource_spans[0].scope_spans[0].spans[0]
        assert [a.key for a in sp.attributes] == []
        assert sp.status.message == "bad credential "


class TestSqlInLogBodies:
    @pytest.mark.parametrize("config", [{}, {"fast_path": False}])
    def test_a_statement_in_a_log_body_loses_its_literals(self, make_processor, config):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.body.string_value = "executing SELECT * FROM users WHERE last_name = 'Kowalczyk' AND id = 42"
        out = run(make_processor(config), req, Signal.LOGS)
        assert out.resource_logs[0].scope_logs[0].log_records[0].body.string_value == (
            "executing SELECT * FROM users WHERE last_name = ? AND id = ?")

    def test_free_text_off_keeps_statements_outside_db_attributes(self, make_processor):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.body.string_value = "executing SELECT * FROM users WHERE last_name = 'Kowalczyk'"
        out = run(make_processor({"db_sanitizer": {"sql": {"free_text": False}}}), req, Signal.LOGS)
        assert out.resource_logs[0].scope_logs[0].log_records[0].body.string_value == rec.body.string_value

    def test_prose_with_a_quote_is_left_as_it_is(self, make_processor):
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add()
        rec.body.string_value = "please select an item from the list and click 'Buy'"
        out = run(make_processor(), req, Signal.LOGS)
        assert out.resource_logs[0].scope_logs[0].log_records[0].body.string_value == rec.body.string_value


class TestNumericCoordinatePairs:
    def test_double_lat_and_lon_attributes_are_rounded(self, make_processor):
        req = ExportTraceServiceRequest()
        sp = req.resource_spans.add().scope_spans.add().spans.add(name="ride")
        sp.attributes.extend([kv("geo.lat", 52.524371), kv("geo.lon", 13.410532), kv("store.latitude", -33.868820),
                              kv("store.longitude", 151.209290), kv("http.response.status_code", 200)])
        out = run(make_processor({"geo_precision": 3}), req, Signal.TRACES)
        values = [a.value.double_value for a in out.resource_spans[0].scope_spans[0].spans[0].attributes[:4]]
        assert values == [52.524, 13.411, -33.869, 151.209]


class TestValueFirstEncoding:
    """The Collector's Go encoder writes fields in descending order: a KeyValue's value before its
    key, a resource entry's Resource last. A key that unlocks a context pattern is then the last
    bytes of its request, or followed by the next entry's tag: the scan must still pin it."""

    @staticmethod
    def value_first(key: str, value) -> bytes:
        v = any_value(value).SerializeToString()
        k = key.encode()
        return b"\x12" + bytes([len(v)]) + v + b"\x0a" + bytes([len(k)]) + k

    @pytest.mark.parametrize(("key", "value", "secret"), [
        ("service.credentials", "a36cad58be5a6cb875d459b7848ecfed", "a36cad58be5a6cb875d459b7848ecfed"),
        ("user.msisdn", "79161234567", "79161234567"),
        ("position.lat", 52.524371, "52.524371"),
    ])
    @pytest.mark.parametrize("summary", ["silent", "info"])
    def test_a_context_key_at_the_end_of_an_entry_is_still_read(self, make_processor, key, value, secret, summary):
        def entry(attribute: bytes) -> bytes:
            resource = b"\x0a" + bytes([len(attribute)]) + attribute
            scope = ExportTraceServiceRequest().resource_spans.add().scope_spans.add()
            scope.spans.add(name="op")
            scope_bytes = scope.SerializeToString()
            body = b"\x12" + bytes([len(scope_bytes)]) + scope_bytes + b"\x0a" + bytes([len(resource)]) + resource
            return b"\x0a" + bytes([len(body)]) + body

        raw = entry(self.value_first(key, value)) + entry(self.value_first(key, value))
        out = make_processor({"summary": summary}).process(Payload(Signal.TRACES, raw=raw))
        result = ExportTraceServiceRequest.FromString(out.raw)
        assert len(result.resource_spans) == 2
        assert secret not in str(result)
