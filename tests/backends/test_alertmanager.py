"""backends/alertmanager: amtool accepts the config, every alert of the rule files
routes to the receivers its severity and team call for, receiver secrets come
from files, and a real Alertmanager inhibits the warning of an alert that is
critical."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.backends.rules import ALERTMANAGER_CONFIG, alerts
from tests.support.procs import free_port, require_tool, running

SLACK = "slack-pricebot-ops"
PAGERDUTY_INGEST = "pagerduty-pricebot-ingest"
PAGERDUTY_PLATFORM = "pagerduty-platform"
PRICEBOT_TEAMS = {"ingest", "collector", "sessions", "pipeline"}
PLATFORM_TEAMS = {"divan", "crosssell"}


def expected_receivers(severity: str, team: str) -> list[str]:
    """The routing table of backends/README.md: criticals page, then everything goes to Slack."""
    if severity == "critical" and team in PRICEBOT_TEAMS:
        return [PAGERDUTY_INGEST, SLACK]
    if severity == "critical" and team in PLATFORM_TEAMS:
        return [PAGERDUTY_PLATFORM, SLACK]
    return [SLACK]


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("amtool", "/usr/bin/amtool"), *args], check=False, capture_output=True,
                          text=True, timeout=60)


def routes(labels: dict[str, str]) -> list[str]:
    result = amtool("config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
                    *(f"{k}={v}" for k, v in sorted(labels.items())))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")


def test_amtool_checks_the_config():
    result = amtool("check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "2 inhibit rules" in result.stdout and "3 receivers" in result.stdout


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: f"{r.alert}:{r.labels['severity']}")
def test_every_alert_routes_by_its_severity_and_team(rule):
    labels = {"alertname": rule.alert, **rule.labels}
    assert routes(labels) == expected_receivers(rule.labels["severity"], rule.labels["team"])


def test_alerts_outside_the_rules_reach_slack():
    assert routes({"alertname": "Watchdog"}) == [SLACK]
    assert routes({"alertname": "X", "severity": "info", "team": "ingest"}) == [SLACK]
    assert routes({"alertname": "X", "severity": "critical", "team": "someone-else"}) == [SLACK]


def test_receiver_secrets_come_from_files():
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    inline = {"api_url", "routing_key", "service_key", "url", "http_config"}
    for receiver in config["receivers"]:
        for kind, confs in receiver.items():
            if kind == "name":
                continue
            for conf in confs:
                assert not inline & conf.keys(), f"{receiver['name']}: inline {inline & conf.keys()}"
                files = {k: v for k, v in conf.items() if k.endswith("_file")}
                assert files, f"{receiver['name']} reads no secret file"
                for path in files.values():
                    assert path.startswith("secrets/"), path
    assert "slack_api_url" not in (config.get("global") or {})
    slack = next(r for r in config["receivers"] if r["name"] == SLACK)["slack_configs"][0]
    assert slack["channel"] == "#pricebot-ops"


def _post(url: str, body: object) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def test_a_critical_alert_inhibits_the_warning_of_the_same_thing(tmp_path: Path):
    binary = require_tool("alertmanager", "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")
    conf_dir = tmp_path / "am"
    conf_dir.mkdir()
    shutil.copy(ALERTMANAGER_CONFIG, conf_dir / "alertmanager.yml")
    secrets = conf_dir / "secrets"
    secrets.mkdir()
    # Notifications go to a loopback port nothing listens on: this test reads the API, not Slack.
    dead = free_port()
    (secrets / "slack-pricebot-ops.url").write_text(f"http://127.0.0.1:{dead}/slack\n")
    (secrets / "pagerduty-pricebot-ingest.key").write_text("test-routing-key\n")
    (secrets / "pagerduty-platform.key").write_text("test-routing-key\n")
    port = free_port()
    argv = [binary, f"--config.file={conf_dir / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    base = f"http://127.0.0.1:{port}/api/v2"
    now = datetime.now(UTC)

    def alert(name: str, severity: str, **labels: str) -> dict:
        return {"labels": {"alertname": name, "severity": severity, "team": "sessions", "job": "session-health",
                           "instance": "otelcol:8889", **labels},
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}

    with running(argv, port=port, log=tmp_path / "alertmanager.log"):
        _post(f"{base}/alerts", [
            alert("WaSessionHeartbeatStale", "warning", wa_session_id="s1"),
            alert("WaSessionHeartbeatStale", "critical", wa_session_id="s1"),
            alert("WaSessionHeartbeatStale", "warning", wa_session_id="s2"),
            alert("WaSessionHealthAlert", "critical", wa_session_id="s1", level="critical"),
            alert("WaSessionHealthAlert", "warning", wa_session_id="s3", level="warning"),
        ])
        def status() -> dict:
            return {(a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["wa_session_id"]):
                    a["status"]["inhibitedBy"] for a in _get(f"{base}/alerts")}

        # The inhibitor takes the alerts in asynchronously: wait for its first verdict, then let it settle.
        deadline = time.monotonic() + 10
        while not any(status().values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        got = status()
    inhibited = {key for key, by in got.items() if by}
    assert len(got) == 5
    assert inhibited == {
        # The critical of the same session silences its warning ...
        ("WaSessionHeartbeatStale", "warning", "s1"),
        # ... and a named critical cause silences the connector's summary alert of that session.
        ("WaSessionHealthAlert", "critical", "s1"),
    }
