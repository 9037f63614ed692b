"""``--apply`` against the local stand-in of Datadog's monitor API: each
monitor is created once, a second run changes nothing, a changed threshold
updates the monitor in place, and the keys never reach the output."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backends.datadog import monitors as dd
from tests.support.datadog_api import monitor_api
from tests.support.procs import REPO, free_port


def _run(base_url: str, api_key: str, app_key: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("DD_")},
            "DD_API_URL": base_url, "DD_API_KEY": api_key, "DD_APP_KEY": app_key, **env}
    return subprocess.run([sys.executable, "-m", "backends.datadog.monitors", "--apply", *args], cwd=REPO,
                          env=full, capture_output=True, text=True, timeout=60)


@pytest.fixture
def keys() -> tuple[str, str]:
    return secrets.token_hex(16), secrets.token_hex(20)


def test_apply_creates_once_then_changes_nothing_then_updates_in_place(tmp_path, keys):
    files = tmp_path / "monitors"
    shutil.copytree(dd.MONITORS_DIR, files)
    wanted = dd.load_all(files)
    with monitor_api(*keys) as (api, url):
        first = _run(url, *keys, "--dir", str(files))
        assert first.returncode == 0, first.stderr
        assert f"{len(wanted)} created, 0 updated, 0 unchanged" in first.stdout
        assert len(api.monitors) == len(wanted)
        ids = {m["id"] for m in api.monitors.values()}

        second = _run(url, *keys, "--dir", str(files))
        assert second.returncode == 0, second.stderr
        assert f"0 created, 0 updated, {len(wanted)} unchanged" in second.stdout
        assert not [c for c in api.calls[-len(wanted):] if c[0] != "GET"]

        path = files / "whatsapp-ingest-rate-limit-spike.json"
        body = json.loads(path.read_text())
        body["query"] = body["query"].replace(">= 5", ">= 7")
        body["options"]["thresholds"]["critical"] = 7
        path.write_text(json.dumps(body))
        third = _run(url, *keys, "--dir", str(files))
        assert third.returncode == 0, third.stderr
        assert f"0 created, 1 updated, {len(wanted) - 1} unchanged" in third.stdout
        assert {m["id"] for m in api.monitors.values()} == ids  # in place: no new monitor
        changed = [m for m in api.monitors.values() if "otelpipe-monitor:whatsapp-ingest-rate-limit-spike" in m["tags"]]
        assert changed[0]["options"]["thresholds"]["critical"] == 7 and ">= 7" in changed[0]["query"]
        # Every call carried the keys in headers, and only there.
        assert all(h["dd-api-key"] == keys[0] for h in api.seen_headers)
        assert not any(keys[0] in p or keys[1] in p for _, p in api.calls)
        for res in (first, second, third):
            assert keys[0] not in res.stdout + res.stderr and keys[1] not in res.stdout + res.stderr


def test_apply_refuses_to_guess_between_duplicates(keys):
    with monitor_api(*keys) as (api, url):
        assert _run(url, *keys).returncode == 0
        stored = next(m for m in api.monitors.values() if "otelpipe-monitor:otelpipe-items-dropped" in m["tags"])
        api.monitors[9999] = {**stored, "id": 9999}
        before = len(api.monitors)
        res = _run(url, *keys)
        assert res.returncode == 1
        assert "2 monitors carry otelpipe-monitor:otelpipe-items-dropped" in res.stderr
        assert len(api.monitors) == before


def test_keys_never_appear_when_refused_unreachable_or_missing(tmp_path, keys):
    with monitor_api(*keys) as (_, url):
        wrong = _run(url, keys[0], "not-" + keys[1])
    assert wrong.returncode == 1
    assert "HTTP 403: the API key or the application key was refused" in wrong.stderr
    down = _run(f"http://127.0.0.1:{free_port()}", *keys)
    assert down.returncode == 1 and "unreachable" in down.stderr
    for res in (wrong, down):
        assert keys[0] not in res.stdout + res.stderr and keys[1] not in res.stdout + res.stderr
        assert "Traceback" not in res.stderr
    missing = subprocess.run([sys.executable, "-m", "backends.datadog.monitors", "--apply"], cwd=REPO,
                             env={k: v for k, v in os.environ.items() if not k.startswith("DD_")},
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "DD_API_KEY is not set" in missing.stderr


def test_keys_can_come_from_files(tmp_path, keys):
    api_file, app_file = tmp_path / "api", tmp_path / "app"
    api_file.write_text(keys[0] + "\n")
    app_file.write_text(keys[1] + "\n")
    with monitor_api(*keys) as (api, url):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DD_")}
        res = subprocess.run([sys.executable, "-m", "backends.datadog.monitors", "--apply"], cwd=REPO,
                             env={**env, "DD_API_URL": url, "DD_API_KEY_FILE": str(api_file),
                                  "DD_APP_KEY_FILE": str(app_file)},
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert len(api.monitors) == len(dd.load_all())


def test_http_check_covers_each_service_metrics_and_readiness():
    """The agent's http_check instances: /metrics and /health/ready of every service, on the
    ports `make run` and compose give them, and the admin token from the secrets backend."""
    import yaml

    from devrun import SERVICES

    conf = yaml.safe_load((REPO / "backends/datadog/conf.d/http_check.d/conf.yaml").read_text())
    urls = {i["url"] for i in conf["instances"]}
    for name, port in SERVICES.items():
        if not (REPO / "services" / name / "app.py").exists():
            continue
        assert f"http://{name}:{port}/metrics" in urls, name
        assert f"http://{name}:{port}/health/ready" in urls, name
    for inst in conf["instances"]:
        assert {"name", "url", "timeout", "tags"} <= set(inst)
        auth = (inst.get("headers") or {}).get("Authorization", "")
        assert not auth or auth == "Bearer ENC[otelpipe_admin_token]"
        assert inst["url"].endswith("/metrics") == bool(auth)
    assert Path(REPO / "backends/datadog/conf.d/openmetrics.d/conf.yaml").is_file()
