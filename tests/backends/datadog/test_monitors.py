"""The Datadog monitors as code: each validates against the monitor API's
schema, its query parses, its threshold and window equal the matching
Prometheus alert's, and its runbook exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from backends.datadog import monitors as dd
from tests.backends.rules import RUNBOOKS_DIR, alerts, load_rules
from tests.support.procs import REPO

MONITORS = dd.load_all()
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def _tag(body: dict, key: str) -> str:
    return next(t.split(":", 1)[1] for t in body["tags"] if t.startswith(f"{key}:"))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _rule_for(body: dict):
    """The alert a monitor mirrors: by name and severity, and by the recording rule it compares
    where several alerts share a name (the collector-offline conditions)."""
    wanted, severity = _tag(body, "prometheus_alert"), _tag(body, "severity")
    record = next((t.split(":", 1)[1] for t in body["tags"] if t.startswith("prometheus_record:")), None)
    found = [r for r in alerts() if _snake(r.alert) == wanted and r.labels.get("severity") == severity
             and (record is None or " ".join(r.expr.split()).startswith(record + " "))]
    assert len(found) == 1, f"{body['name']}: {len(found)} Prometheus alerts named {wanted} at {severity}"
    return found[0]


def _threshold_and_window(rule) -> tuple[str, float, int]:
    """(comparator, threshold, seconds) of an alert, reading through the recording rule it compares."""
    expr = " ".join(rule.expr.split())
    m = re.search(r"(>=|<=|==|>|<)\s*(-?\d+(?:\.\d+)?)\s*(?:$|\bor\b|\band\b|\)|\bunless\b)", expr)
    assert m, f"{rule.alert}: no threshold in {expr!r}"
    comparator, threshold = m.group(1), float(m.group(2))
    lhs = expr[: m.start()].strip()
    records = {r.record: r for r in load_rules() if r.record}
    source = records[lhs].expr if lhs in records else lhs
    ranges = [_seconds(r) for r in re.findall(r"\[(\d+[smhd])\]", source)]
    held = _seconds(rule.for_) if rule.for_ else 0
    # A condition held for `for:` is measured over that time; an absence ("no increase in the
    # range, for a while more") and an unheld count over a range are measured over the range.
    sustained = comparator in (">=", ">") and held
    return comparator, threshold, held if sustained else max(ranges, default=0) + held


def test_there_is_a_monitor_for_every_ingest_and_pipeline_alert_of_the_seed():
    tags = {(_tag(b, "prometheus_alert"), _tag(b, "severity")) for b in MONITORS.values()}
    for rule in alerts():
        if rule.file.stem in ("whatsapp-ingest", "pipeline") and rule.alert != "OtelpipeCollectorDown" \
                and rule.alert != "OtelpipeExporterFailing":
            assert (_snake(rule.alert), rule.labels["severity"]) in tags, f"no Datadog monitor for {rule.alert}"


@pytest.mark.parametrize("stem", sorted(MONITORS))
def test_monitor_threshold_and_window_equal_the_prometheus_alert(stem):
    body = MONITORS[stem]
    rule = _rule_for(body)
    if body["type"] == "service check":  # an up/absent alert: the agent's check failing, held about as long
        assert rule.alert == "OtelpipeProcessorsDown"
        return
    query = dd.parse_metric_query(body["query"])
    comparator, threshold, window = _threshold_and_window(rule)
    assert query.threshold == pytest.approx(threshold), (stem, query.threshold, threshold)
    assert body["options"]["thresholds"]["critical"] == pytest.approx(threshold)
    assert query.window_seconds == window, (stem, query.window_seconds, window)
    # "== 0" (nothing in the window) is "<= 0" for a non-negative series.
    assert query.comparator == {"==": "<="}.get(comparator, comparator)


@pytest.mark.parametrize("stem", sorted(MONITORS))
def test_monitor_names_its_runbook_and_its_receivers(stem):
    body = MONITORS[stem]
    links = re.findall(r"docs/runbooks/([A-Za-z]+)\.md", body["message"])
    assert links, f"{stem}: no runbook link"
    for name in links:
        assert (RUNBOOKS_DIR / f"{name}.md").is_file(), f"{stem}: docs/runbooks/{name}.md does not exist"
    assert "@slack-pricebot-ops" in body["message"]
    pages = "@pagerduty-pricebot-ingest" in body["message"]
    assert pages == (_tag(body, "severity") == "critical"), f"{stem}: pages iff critical"


def test_the_pricebot_metrics_are_the_ones_the_overlay_produces():
    """Every pricebot.whatsapp.* a monitor reads is an ingest series the overlay renames."""
    from services.ingest import collectors
    from services.ingest.telemetry import TOTALS

    otlp_names = {f"pricebot_whatsapp_{t}_total" for t in TOTALS} | {
        collectors.CONNECTED, collectors.LAST_SEEN, collectors.BATCHES_SUCCESS}
    renamed = {n.removesuffix("_total").replace("pricebot_whatsapp_", "pricebot.whatsapp.") for n in otlp_names}
    for body in MONITORS.values():
        if body["type"] == "service check":
            continue
        for metric in dd.parse_metric_query(body["query"]).metrics:
            if metric.startswith("pricebot."):
                assert metric in renamed, metric


@pytest.mark.parametrize("query, error", [
    ("avg(last_5m):sum:a.b{*} >= ", "the threshold"),
    ("median(last_5m):sum:a.b{*} > 1", "unknown time aggregation"),
    ("avg(5m):sum:a.b{*} > 1", "window"),
    ("avg(last_5m):sum:a.b{*} 1", "comparator"),
    ("avg(last_5m):p99:a.b{*} > 1", "space aggregation"),
    ("avg(last_5m):sum:a.b{* > 1", "'}'"),
    ("avg(last_5m):frobnicate(sum:a.b{*}) > 1", "unknown function"),
    ("avg(last_5m):sum:a.b{*} > 1 extra", "end of the query"),
    ("avg(last_5m):(sum:a.b{*} > 1", "')'"),
])
def test_a_malformed_query_is_refused_with_where(query, error):
    with pytest.raises(dd.MonitorError, match=re.escape(error)):
        dd.parse_metric_query(query)


def test_a_bad_monitor_file_is_refused_naming_the_field(tmp_path):
    body = dict(next(iter(MONITORS.values())))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**body, "tags": [*body["tags"], "otelpipe-monitor:good"]}))
    assert dd.load(good)["name"] == body["name"]
    cases = {
        "typo": ({**body, "optoins": {}}, "Additional properties"),
        "nothreshold": ({**body, "options": {"notify_no_data": True}}, "options: 'thresholds' is a required"),
        "badquery": ({**body, "query": "avg(last_5m):sum:x{*} >"}, "query: expected the threshold"),
        "untagged": ({**body, "tags": ["team:x"]}, "must include otelpipe-monitor:untagged"),
        "uppercase": ({**body, "tags": ["Team:X"]}, "tags/0"),
    }
    for stem, (data, error) in cases.items():
        path = tmp_path / f"{stem}.json"
        path.write_text(json.dumps(data))
        with pytest.raises(dd.MonitorError, match=re.escape(error)):
            dd.load(path)


def test_check_cli_validates_every_file():
    res = subprocess.run([sys.executable, "-m", "backends.datadog.monitors", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"{len(MONITORS)} monitors valid" in res.stdout


def test_check_cli_fails_on_a_broken_file(tmp_path):
    shutil.copytree(dd.MONITORS_DIR, tmp_path / "m")
    victim = next((tmp_path / "m").glob("*.json"))
    victim.write_text(victim.read_text().replace('"query alert"', '"querry alert"').replace(
        '"service check"', '"service chek"'))
    res = subprocess.run([sys.executable, "-m", "backends.datadog.monitors", "--check", "--dir",
                          str(tmp_path / "m")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert victim.name in res.stderr and "type" in res.stderr
