"""What the log sampler keeps, drops and writes, record by record."""

from __future__ import annotations

import pytest

from processors.api import CreateSettings, Payload, Signal
from processors.log_sampling import randomness
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.log_sampling.self_metrics import DROPPED, KEPT, RATIO
from processors.telemetry import DROPPED as PIPELINE_DROPPED
from processors.telemetry import SelfTelemetry
from tests.processors.log_sampling.builders import (
    Rec,
    attr,
    kept_records,
    kept_seqs,
    payload,
    random_trace_ids,
    request,
)

TRACES = random_trace_ids(400, seed=11)


def sampler(**config) -> LogSampler:
    return LogSampler(SamplingConfig(**config), CreateSettings("log_sampling", SelfTelemetry()))


def info_records(n: int = 400, **kw) -> list[Rec]:
    return [Rec(trace_id=TRACES[i % len(TRACES)], **kw) for i in range(n)]


# --- severity ----------------------------------------------------------------

@pytest.mark.parametrize("level", ["WARN", "ERROR", "FATAL"])
def test_warn_and_above_are_never_dropped_even_at_the_smallest_ratio(level: str) -> None:
    records = [Rec(level=level, trace_id=t) for t in TRACES]
    out = sampler(info_ratio=1e-9).process_logs(payload(records))
    assert kept_seqs(out) == set(range(len(records)))


def test_info_debug_and_trace_are_sampled() -> None:
    s = sampler(info_ratio=1e-9)
    for level in ("INFO", "DEBUG", "TRACE"):
        assert s.process_logs(payload([Rec(level=level, trace_id=t) for t in TRACES])) is None


def test_keep_severity_at_least_moves_the_line() -> None:
    records = [Rec(level=lvl, trace_id=t) for t in TRACES[:50] for lvl in ("INFO", "WARN", "ERROR")]
    out = sampler(info_ratio=1e-9, keep_severity_at_least="ERROR").process_logs(payload(records))
    assert {lr.severity_text for _, lr in kept_records(out)} == {"ERROR"}
    out = sampler(info_ratio=1e-9, keep_severity_at_least="INFO").process_logs(payload(records))
    assert len(kept_records(out)) == len(records)


def test_severity_text_decides_when_the_number_is_unset() -> None:
    records = [Rec(level="", severity_text=text, trace_id=t) for t in TRACES[:20] for text in ("error", "Warning")]
    out = sampler(info_ratio=1e-9).process_logs(payload(records))
    assert len(kept_records(out)) == len(records)


def test_a_record_without_severity_is_treated_as_unspecified_severity() -> None:
    records = [Rec(level="", severity_text="", trace_id=t) for t in TRACES]
    assert sampler(info_ratio=1e-9).process_logs(payload(records)) is None
    out = sampler(info_ratio=1e-9, unspecified_severity="WARN").process_logs(payload(records))
    assert len(kept_records(out)) == len(records)


# --- keep rules --------------------------------------------------------------

def test_keep_rules_by_event_name_field_or_attribute_glob() -> None:
    records = [
        Rec(trace_id=TRACES[0], event_name="wa.session.heartbeat"),
        Rec(trace_id=TRACES[1], attributes={"event.name": "wa.session.state_change"}),
        Rec(trace_id=TRACES[2], event_name="checkout.done"),
        Rec(trace_id=TRACES[3], attributes={"event.name": "wa.sessions"}),
    ]
    out = sampler(info_ratio=1e-9, keep={"event_names": ["wa.session.*"]}).process_logs(payload(records))
    assert kept_seqs(out) == {0, 1}


def test_keep_rules_by_attribute_value_compare_string_forms() -> None:
    records = [
        Rec(trace_id=TRACES[0], attributes={"audit": True}),
        Rec(trace_id=TRACES[1], attributes={"audit": False}),
        Rec(trace_id=TRACES[2], attributes={"http.status_code": 503}),
        Rec(trace_id=TRACES[3], attributes={"http.status_code": 200}),
        Rec(trace_id=TRACES[4], attributes={"tenant.tier": "gold"}),
    ]
    keep = {"attributes": {"audit": [True], "http.status_code": [503], "tenant.tier": ["gold"]}}
    out = sampler(info_ratio=1e-9, keep=keep).process_logs(payload(records))
    assert kept_seqs(out) == {0, 2, 4}


def test_keep_rules_by_service_and_by_resource_attribute() -> None:
    records = info_records(50, service="payments") + info_records(50, service="search")
    out = sampler(info_ratio=1e-9, keep={"services": ["pay*"]}).process_logs(payload(records))
    assert {svc for svc, _ in kept_records(out)} == {"payments"}
    assert len(kept_records(out)) == 50

    keep_by_resource = {"attributes": {"service.name": ["search"]}}
    out = sampler(info_ratio=1e-9, keep=keep_by_resource).process_logs(payload(records))
    assert {svc for svc, _ in kept_records(out)} == {"search"}


# --- the decision --------------------------------------------------------------

def test_every_record_of_a_trace_shares_its_decision() -> None:
    records = [Rec(trace_id=t, body=f"step {k}") for k in range(5) for t in TRACES]
    out = sampler(info_ratio=0.3).process_logs(payload(records))
    kept_by_trace: dict[bytes, int] = {}
    for _, lr in kept_records(out):
        kept_by_trace[lr.trace_id] = kept_by_trace.get(lr.trace_id, 0) + 1
    assert kept_by_trace, "some traces are kept at 0.3"
    assert len(kept_by_trace) < len(TRACES), "and some are not"
    assert set(kept_by_trace.values()) == {5}


def test_a_higher_ratio_keeps_a_superset_of_traces() -> None:
    records = info_records()
    kept = [kept_seqs(sampler(info_ratio=r).process_logs(payload(records))) for r in (0.05, 0.2, 0.6)]
    assert kept[0] < kept[1] < kept[2]


def test_the_hash_seed_changes_which_traces_are_kept() -> None:
    records = info_records()
    a = kept_seqs(sampler(info_ratio=0.5, hash_seed=1).process_logs(payload(records)))
    b = kept_seqs(sampler(info_ratio=0.5, hash_seed=2).process_logs(payload(records)))
    assert a != b
    assert kept_seqs(sampler(info_ratio=0.5, hash_seed=1).process_logs(payload(records))) == a


def test_trace_id_randomness_keeps_exactly_the_ids_above_the_threshold() -> None:
    out = sampler(info_ratio=0.25, randomness="trace_id").process_logs(payload(info_records()))
    th = randomness.threshold(0.25)
    expected = {t for t in TRACES if int.from_bytes(t[-7:], "big") >= th}
    assert {lr.trace_id for _, lr in kept_records(out)} == expected


def non_hex_word(k: int) -> str:
    """A word the template keeps (no digits, no hex letters), distinct for each k."""
    letters = "ghijklmnopqrstuvwxyz"
    return letters[k % 20] + letters[k // 20 % 20] + letters[k // 400 % 20]


def test_by_body_template_every_record_of_one_message_kind_shares_its_decision() -> None:
    # The same message with different numbers and ids is one template: all kept or all dropped.
    templates = [f"cache miss in {non_hex_word(k)} for key {{}} (request {{}})" for k in range(200)]
    records = [Rec(body=t.format(i * 7919, f"{i:08x}-4f2a")) for t in templates for i in range(3)]
    out = sampler(info_ratio=0.5, fallback_key="body_template").process_logs(payload(records))
    kept_bodies = [lr.body.string_value for _, lr in kept_records(out)]
    kept_templates = {randomness.body_template(b) for b in kept_bodies}
    assert 60 < len(kept_templates) < 140
    assert len(kept_bodies) == 3 * len(kept_templates)


def test_fallback_body_decides_per_distinct_body() -> None:
    records = [Rec(body=f"order {i} placed") for i in range(400)]
    out = sampler(info_ratio=0.5, fallback_key="body").process_logs(payload(records))
    assert 100 < len(kept_records(out)) < 300


def test_fallback_attribute_decides_and_falls_back_to_the_template_without_it() -> None:
    records = [Rec(attributes={"log.id": f"id-{i // 2}"}) for i in range(400)]
    out = sampler(info_ratio=0.5, fallback_key="attribute", fallback_attribute="log.id").process_logs(payload(records))
    kept = [attr(lr, "log.id") for _, lr in kept_records(out)]
    assert 60 < len(set(kept)) < 140
    assert all(kept.count(k) == 2 for k in set(kept)), "records sharing the attribute share the decision"

    no_attribute = [Rec(body=f"user {i} logged in") for i in range(50)]
    out = sampler(info_ratio=0.5, fallback_key="attribute", fallback_attribute="log.id").process_logs(
        payload(no_attribute))
    assert len(kept_records(out)) in (0, 50)


def test_a_malformed_trace_id_is_treated_as_absent() -> None:
    s = sampler(info_ratio=0.5)
    short = Rec(trace_id=b"\x01" * 8, body="same body")
    zero = Rec(trace_id=bytes(16), body="same body")
    none = Rec(body="same body")
    decisions = {len(kept_records(s.process_logs(payload([r])))) for r in (short, zero, none)}
    assert len(decisions) == 1


# --- what a kept record carries ------------------------------------------------

def test_sampled_records_carry_their_weight_and_kept_ones_by_severity_do_not() -> None:
    records = info_records() + [Rec(level="ERROR", trace_id=t) for t in TRACES[:10]]
    out = sampler(info_ratio=0.2).process_logs(payload(records))
    for _, lr in kept_records(out):
        if lr.severity_text == "INFO":
            assert attr(lr, "sampling.weight") == pytest.approx(5.0)
        else:
            assert attr(lr, "sampling.weight") is None
    assert all(attr(lr, "sampling.threshold") is None for _, lr in kept_records(out))


def test_the_weight_attribute_name_is_configurable() -> None:
    out = sampler(info_ratio=0.5, weight_attribute="sample.rate.inverse").process_logs(payload(info_records()))
    assert {attr(lr, "sample.rate.inverse") for _, lr in kept_records(out)} == {2.0}


def test_a_second_independent_stage_multiplies_the_weight() -> None:
    first = sampler(info_ratio=0.5, hash_seed=1).process_logs(payload(info_records()))
    second = sampler(info_ratio=0.5, hash_seed=2).process_logs(Payload(Signal.LOGS, raw=first.raw))
    weights = [attr(lr, "sampling.weight") for _, lr in kept_records(second)]
    assert weights and set(weights) == {4.0}
    assert all(sum(kv.key == "sampling.weight" for kv in lr.attributes) == 1 for _, lr in kept_records(second))


def test_trace_id_randomness_writes_the_otel_threshold_and_keeps_the_stricter_one() -> None:
    first = sampler(info_ratio=0.25, randomness="trace_id").process_logs(payload(info_records()))
    assert {attr(lr, "sampling.threshold") for _, lr in kept_records(first)} == {"c"}
    # A looser second stage over the same bits keeps every record and the tighter threshold.
    second = sampler(info_ratio=0.5, randomness="trace_id").process_logs(Payload(Signal.LOGS, raw=first.raw))
    assert len(kept_records(second)) == len(kept_records(first))
    assert {attr(lr, "sampling.threshold") for _, lr in kept_records(second)} == {"c"}
    assert {attr(lr, "sampling.weight") for _, lr in kept_records(second)} == {4.0}


# --- the request's shape ------------------------------------------------------

def test_an_untouched_request_is_forwarded_as_its_original_bytes() -> None:
    p = payload([Rec(level="ERROR", trace_id=t) for t in TRACES[:20]])
    raw = p.raw
    out = sampler(info_ratio=0.1).process_logs(p)
    assert out is p and not out.modified and out.raw is raw


def test_ratio_one_keeps_everything_without_rewriting() -> None:
    p = payload(info_records())
    out = sampler(info_ratio=1.0).process_logs(p)
    assert out is p and not out.modified
    assert len(kept_records(out)) == 400


def test_empty_scope_and_resource_containers_are_removed() -> None:
    # checkout: only INFO (all dropped); search: one ERROR among INFO.
    records = info_records(30, service="checkout") + info_records(30, service="search") + [
        Rec(service="search", level="ERROR", trace_id=TRACES[0])]
    out = sampler(info_ratio=1e-9).process_logs(payload(records))
    assert [kv.value.string_value for rl in out.message.resource_logs for kv in rl.resource.attributes] == ["search"]
    assert all(len(sl.log_records) > 0 for rl in out.message.resource_logs for sl in rl.scope_logs)
    assert kept_seqs(out) == {60}


def test_nothing_left_returns_none() -> None:
    assert sampler(info_ratio=1e-9).process_logs(payload(info_records())) is None


def test_an_empty_request_passes_through() -> None:
    p = Payload(Signal.LOGS, raw=b"")
    assert sampler().process_logs(p) is p


def test_order_of_surviving_records_is_preserved() -> None:
    records = info_records() + [Rec(level="WARN", trace_id=t) for t in TRACES[:50]]
    out = sampler(info_ratio=0.3).process_logs(payload(records))
    seqs = [attr(lr, "seq") for _, lr in kept_records(out)]
    assert seqs == sorted(seqs)


def test_the_request_round_trips_through_bytes() -> None:
    out = sampler(info_ratio=0.3).process_logs(payload(info_records()))
    reparsed = type(out.message).FromString(out.raw)
    assert reparsed == out.message


# --- self-metrics ----------------------------------------------------------------

def test_self_metrics_count_kept_and_dropped_by_service_and_severity() -> None:
    telemetry = SelfTelemetry()
    s = LogSampler(SamplingConfig(info_ratio=0.5), CreateSettings("log_sampling/x", telemetry))
    records = (info_records(200, service="a") + [Rec(service="a", level="ERROR", trace_id=t) for t in TRACES[:7]]
               + info_records(100, service="b", level="DEBUG"))
    out = s.process_logs(payload(records))
    kept = kept_records(out)

    def kept_metric(service, severity, reason):
        return telemetry.value(f"{KEPT}_total", processor="log_sampling/x", service=service, severity=severity,
                               reason=reason)

    def dropped_metric(service, severity):
        return telemetry.value(f"{DROPPED}_total", processor="log_sampling/x", service=service, severity=severity)

    kept_a_info = sum(1 for svc, lr in kept if svc == "a" and lr.severity_text == "INFO")
    kept_b_debug = sum(1 for svc, lr in kept if svc == "b")
    assert kept_metric("a", "ERROR", "severity") == 7
    assert kept_metric("a", "INFO", "sampled") == kept_a_info
    assert dropped_metric("a", "INFO") == 200 - kept_a_info
    assert kept_metric("b", "DEBUG", "sampled") == kept_b_debug
    assert dropped_metric("b", "DEBUG") == 100 - kept_b_debug
    assert telemetry.value(f"{RATIO}", processor="log_sampling/x", service="a") == 0.5
    # The pipeline-wide drop counter agrees.
    total_dropped = 300 - kept_a_info - kept_b_debug
    assert telemetry.value(f"{PIPELINE_DROPPED}_total", signal="logs", component="log_sampling/x",
                           reason="sampled") == total_dropped


def test_rule_kept_records_are_counted_as_such() -> None:
    telemetry = SelfTelemetry()
    s = LogSampler(SamplingConfig(info_ratio=1e-9, keep={"event_names": ["audit"]}),
                   CreateSettings("log_sampling", telemetry))
    s.process_logs(payload([Rec(trace_id=t, event_name="audit") for t in TRACES[:9]]))
    assert telemetry.value(f"{KEPT}_total", processor="log_sampling", service="checkout", severity="INFO",
                           reason="rule") == 9


def test_services_past_max_services_share_one_label(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = SelfTelemetry()
    s = LogSampler(SamplingConfig(info_ratio=0.5, max_services=2), CreateSettings("ls", telemetry))
    records = [Rec(service=f"svc-{i}", level="ERROR", trace_id=TRACES[i]) for i in range(5)]
    with caplog.at_level("WARNING"):
        s.process_logs(payload(records))
    assert [r.getMessage() for r in caplog.records if "max_services" in r.getMessage()] == [
        "more than 2 services (max_services): service 'svc-2' and later ones are metered and labelled as _other"]
    services = {sample.labels["service"] for metric in telemetry.registry.collect() for sample in metric.samples
                if sample.name == f"{KEPT}_total"}
    assert services == {"svc-0", "svc-1", "_other"}
    assert telemetry.value(f"{KEPT}_total", processor="ls", service="_other", severity="ERROR",
                           reason="severity") == 3


def test_a_missing_service_name_is_unknown_service() -> None:
    telemetry = SelfTelemetry()
    s = LogSampler(SamplingConfig(), CreateSettings("ls", telemetry))
    req = request([Rec(level="ERROR", trace_id=TRACES[0])])
    del req.resource_logs[0].resource.attributes[:]
    s.process_logs(Payload(Signal.LOGS, message=req))
    assert telemetry.value(f"{KEPT}_total", processor="ls", service="unknown_service", severity="ERROR",
                           reason="severity") == 1


def test_only_emptied_scopes_go_when_a_resource_has_several() -> None:
    req = request([Rec(level="ERROR", trace_id=TRACES[0])])
    rl = req.resource_logs[0]
    doomed = rl.scope_logs.add()
    doomed.scope.name = "all-info"
    for t in TRACES[:30]:
        doomed.log_records.add(severity_number=9, trace_id=t).body.string_value = "x"
    out = sampler(info_ratio=1e-9).process_logs(Payload(Signal.LOGS, message=req))
    assert [sl.scope.name for sl in out.message.resource_logs[0].scope_logs] == ["tests"]
    assert kept_seqs(out) == {0}
