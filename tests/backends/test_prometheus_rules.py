"""backends/prometheus: the config and rules pass promtool, every alert fires at its
threshold and stays quiet below it (promtool's unit tests), every alert carries
severity, team and a runbook that exists, and every series a rule reads is one a
real scrape has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.backends.rules import (
    KNOWN_METRICS,
    PROMETHEUS_DIR,
    RULE_TESTS_DIR,
    RUNBOOKS_DIR,
    alerts,
    known_metrics,
    load_rules,
    rule_files,
    series_names,
)
from tests.support.procs import free_port, require_tool, running

SEVERITIES = {"critical", "warning"}
TEAMS = {"ingest", "collector", "sessions", "divan", "crosssell", "pipeline"}
RUNBOOK_SECTIONS = ("## What it means", "## First checks", "## Queries", "## From the alert to the trace and its logs")
# The one rule file that may read the series of a service not built yet.
PENDING_ALLOWED_IN = "crosssell-slo.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool", "/usr/bin/promtool"), *args], check=False, capture_output=True,
                          text=True, timeout=120, cwd=PROMETHEUS_DIR)


def test_promtool_checks_the_config_and_every_rule_file_it_loads():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_files())} rule files found" in out
    for path in rule_files():
        assert f"Checking rules/{path.name}" in out


def test_promtool_checks_the_rules():
    result = promtool("check", "rules", *(str(p) for p in rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(rule_files())


def test_the_file_sd_targets_the_config_names_exist_and_list_targets():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    files = [f for sc in config["scrape_configs"] for sd in sc["file_sd_configs"] for f in sd["files"]]
    files += [f for am in config["alerting"]["alertmanagers"] for sd in am["file_sd_configs"] for f in sd["files"]]
    assert {sc["job_name"] for sc in config["scrape_configs"]} == {"otelcol-exporter", "otelcol", "otelproc"}
    for name in files:
        groups = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
        assert groups and all(re.fullmatch(r"[\w.-]+:\d+", t) for g in groups for t in g["targets"]), name


def test_every_rule_file_has_unit_tests_and_every_test_file_runs():
    tests = sorted(RULE_TESTS_DIR.glob("*.test.yml"))
    covered = {p for t in tests for p in yaml.safe_load(t.read_text())["rule_files"]}
    assert covered == {f"../rules/{p.name}" for p in rule_files()}
    result = promtool("test", "rules", *(str(t) for t in tests))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def _expected_firing() -> set[tuple[str, str]]:
    got = set()
    for t in RULE_TESTS_DIR.glob("*.test.yml"):
        for group in yaml.safe_load(t.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                for exp in case.get("exp_alerts") or []:
                    got.add((case["alertname"], exp["exp_labels"]["severity"]))
    return got


def _expected_quiet() -> set[str]:
    """Alert names with a case where some input series of the test fires nothing: a case
    expecting no alert, or fewer alerts than the test has "below"/"quiet" inputs would give."""
    got = set()
    for t in RULE_TESTS_DIR.glob("*.test.yml"):
        for group in yaml.safe_load(t.read_text())["tests"]:
            inputs = " ".join(s["series"] for s in group["input_series"])
            for case in group.get("alert_rule_test", []):
                fired = yaml.safe_dump(case.get("exp_alerts") or [])
                if not case.get("exp_alerts") or any(
                        f'"{q}"' in inputs and q not in fired for q in ("below", "warn_below", "crit_below", "quiet",
                                                                         "fast_below", "slow_below")):
                    got.add(case["alertname"])
    return got


def test_every_alert_has_a_case_that_fires_it_and_one_that_stays_quiet():
    rules = {(r.alert, r.labels["severity"]) for r in alerts()}
    assert rules - _expected_firing() == set()
    assert {a for a, _ in rules} - _expected_quiet() == set()


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: f"{r.alert}:{r.labels.get('severity')}")
def test_every_alert_has_severity_team_and_a_runbook(rule):
    assert rule.labels.get("severity") in SEVERITIES
    assert rule.labels.get("team") in TEAMS
    assert rule.annotations.get("summary")
    assert rule.annotations.get("runbook_url") == f"docs/runbooks/{rule.alert}.md"
    runbook = RUNBOOKS_DIR / f"{rule.alert}.md"
    assert runbook.is_file(), f"{runbook} is missing"
    text = runbook.read_text()
    for section in RUNBOOK_SECTIONS:
        assert section in text, f"{runbook.name} has no '{section}'"
    # The runbook's queries name the series the alert reads.
    names = series_names(rule.expr)
    assert any(n in text for n in names), f"{runbook.name} quotes none of {sorted(names)}"


def test_the_series_name_parser_finds_series_and_nothing_else():
    expr = ('histogram_quantile(0.95, sum by (job, le) (rate(divan_http_request_duration_seconds_bucket'
            '{le="+Inf", route=~"/a|b"}[5m]))) > 0.4 and on (job) up{job="otelproc"} == 0 '
            'or absent(wa_x_total offset 5m) unless job:rec:ratio_rate5m > bool 1e3')
    assert series_names(expr) == {"divan_http_request_duration_seconds_bucket", "up", "wa_x_total",
                                  "job:rec:ratio_rate5m"}


def test_every_series_a_rule_reads_is_in_a_real_scrape():
    known, pending = known_metrics()
    rules = load_rules()
    recorded = {r.record for r in rules if r.record}
    unknown = {}
    for r in rules:
        names = series_names(r.expr)
        assert names, f"no series found in {r.alert or r.record}: {r.expr}"
        allowed = known | recorded | (pending if r.file.name == PENDING_ALLOWED_IN else set())
        missing = names - allowed
        if missing:
            unknown[r.alert or r.record] = sorted(missing)
    assert unknown == {}


def test_the_known_names_come_from_every_scrape_target():
    text = KNOWN_METRICS.read_text()
    for marker, sample in ((":8889", "pricebot_whatsapp_auth_failures_total"), (":8888", "otelcol_exporter_queue_size"),
                           (":8898", "otelproc_dropped_items_total"), ("exporter failure",
                                                                       "otelcol_exporter_send_failed_spans")):
        section = text.split(marker, 1)[1].split("\n## ", 1)[0]
        assert sample in section.split()


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def test_a_real_prometheus_loads_the_rules_and_the_overridden_targets(tmp_path):
    """The override path of compose and k8s: the same prometheus.yml and rules, other target files."""
    binary = require_tool("prometheus", "/usr/bin/prometheus")
    conf = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, conf, ignore=shutil.ignore_patterns("tests"))
    ports = {name: free_port() for name in ("otelcol-exporter", "otelcol", "otelproc", "alertmanager")}
    for name, port in ports.items():
        (conf / "targets" / f"{name}.yml").write_text(f'- targets: ["127.0.0.1:{port}"]\n')
    web = free_port()
    argv = [binary, f"--config.file={conf / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}"]
    api = f"http://127.0.0.1:{web}/api/v1"
    expected_jobs = {"otelcol-exporter", "otelcol", "otelproc"}
    with running(argv, port=web, log=tmp_path / "prometheus.log"):
        deadline = time.monotonic() + 30
        # The port opens before the TSDB and the rules are loaded: the API answers 503 until then.
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{web}/-/ready", timeout=5).close()
                break
            except urllib.error.HTTPError:
                assert time.monotonic() < deadline, "Prometheus not ready after 30 s"
                time.sleep(0.1)
        while True:
            targets = _get_json(f"{api}/targets")["data"]["activeTargets"]
            managers = _get_json(f"{api}/alertmanagers")["data"]["activeAlertmanagers"]
            groups = _get_json(f"{api}/rules")["data"]["groups"]
            if ({t["labels"]["job"] for t in targets} == expected_jobs and managers) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert {t["labels"]["job"]: t["scrapeUrl"] for t in targets} == {
        job: f"http://127.0.0.1:{ports[job]}/metrics" for job in expected_jobs}
    assert [m["url"] for m in managers] == [f"http://127.0.0.1:{ports['alertmanager']}/api/v2/alerts"]
    loaded = {(g["name"], r["name"]) for g in groups for r in g["rules"]}
    assert loaded == {(r.group, r.alert or r.record) for r in load_rules()}
    assert all(r["health"] != "err" for g in groups for r in g["rules"])
