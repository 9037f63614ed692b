"""The ingest load harness against the ingest service on loopback: the seed's command line as written,
every report field, perf_baseline.md kept at the last 3 runs newest first, and each SLO breached by a
service that fails, answers without offers, is slow, or rate-limits."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests import whatsapp_harness
from tests.loadtests.conftest import SECRETS, Service, _clean_env, faults, service
from tests.support.procs import REPO
from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.e2e

# Every figure the runbook names, plus what makes them interpretable.
SEED_FIELDS = ("p50_ingest_to_offer_s", "p95_ingest_to_offer_s", "skipped_error_ratio", "extraction_success_ratio",
               "extracted_created_pct", "dedupe_ratio", "rate_limited_429", "slos", "passed", "report_file",
               "totals", "messages_sent", "repeats_sent", "run_id", "finished_at")


@pytest.fixture(scope="module")
def ingests(tmp_path_factory: pytest.TempPathFactory, redis_srv: RedisServer,
            postgres_srv: PostgresServer) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("ingest")
    with service("ingest", tmp, redis_srv, postgres_srv) as healthy, \
            service("ingest", tmp, redis_srv, postgres_srv, **faults(error_rate=0.5)) as failing, \
            service("ingest", tmp, redis_srv, postgres_srv, **faults(delay_ms=300)) as slow, \
            service("ingest", tmp, redis_srv, postgres_srv, WHATSAPP_INGEST_RATE_LIMIT_PER_MINUTE="2") as limited:
        yield {"healthy": healthy, "failing": failing, "slow": slow, "limited": limited}


def urls(svc: Service) -> list[str]:
    return ["--url", f"{svc.url}/integrations/whatsapp/ingest",
            "--diagnostics-url", f"{svc.url}/chat/tools/diagnostics"]


@pytest.fixture
def harness_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WHATSAPP_INGEST_TOKEN", "WHATSAPP_HMAC_SECRET", "OBS_ADMIN_TOKEN"):
        monkeypatch.setenv(name, SECRETS[name])


def test_the_runbook_command_line_passes_and_reports_every_field(ingests: dict[str, Service], tmp_path: Path) -> None:
    report_file = tmp_path / "docs" / "perf_baseline.json"
    env = {**_clean_env(), "WHATSAPP_HMAC_SECRET": SECRETS["WHATSAPP_HMAC_SECRET"],
           "OBS_ADMIN_TOKEN": SECRETS["OBS_ADMIN_TOKEN"]}
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "load"), *urls(ingests["healthy"]), "--token", SECRETS["WHATSAPP_INGEST_TOKEN"],
         "--count", "50", "--batch-size", "10", "--report-file", str(report_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ALERT:" not in done.stdout
    assert "all SLOs met" in done.stdout
    report = json.loads(report_file.read_text())
    assert set(SEED_FIELDS) <= set(report)
    assert report["target"]["signed"] is True
    # What the service stored, summed from its diagnostics: 50 new messages, 5 sent twice and deduped.
    assert report["totals"] == {"accepted": 55, "created": 50, "deduped": 5, "extracted": 50, "errors": 0,
                                "skipped": 0}
    assert report["messages_sent"] == 55 and report["repeats_sent"] == 5
    assert report["dedupe_ratio"] == pytest.approx(5 / 55, abs=1e-3)
    assert report["extraction_success_ratio"] == 1.0 and report["skipped_error_ratio"] == 0.0
    assert report["rate_limited_429"] == 0
    assert 0 < report["p50_ingest_to_offer_s"] <= report["p95_ingest_to_offer_s"] < 60
    assert report["latency_s"]["samples"] == 55
    assert [s["ok"] for s in report["slos"]] == [True, True, True] and report["passed"] is True
    # The secrets never reach the report or the output.
    for secret in SECRETS.values():
        assert secret not in report_file.read_text() + done.stdout + done.stderr
    entries = whatsapp_harness.baseline_entries((report_file.parent / "perf_baseline.md").read_text())
    assert len(entries) == 1 and report["run_id"] in entries[0] and "(PASS)" in entries[0]


def test_perf_baseline_md_keeps_exactly_the_last_three_runs_newest_first(
        ingests: dict[str, Service], tmp_path: Path, harness_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    report_file = tmp_path / "perf_baseline.json"
    run_ids = []
    for _ in range(5):
        code = whatsapp_harness.main([*urls(ingests["healthy"]), "--count", "5", "--batch-size", "5",
                                      "--report-file", str(report_file), "--no-progress"])
        assert code == 0, capsys.readouterr().out[-2000:]
        run_ids.append(json.loads(report_file.read_text())["run_id"])
    text = (tmp_path / "perf_baseline.md").read_text()
    entries = whatsapp_harness.baseline_entries(text)
    assert len(entries) == 3
    assert [re.search(r" run (\w+) ", e).group(1) for e in entries] == run_ids[:1:-1]
    assert text.count("## ") == 3 and text.startswith("# Performance baseline")


def alert(output: str) -> list[str]:
    """The lines of the ALERT: stanza."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ALERT:"))
    return lines[start:]


def test_a_failing_service_breaches_the_skipped_error_slo(ingests: dict[str, Service], tmp_path: Path,
                                                          harness_env: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    report_file = tmp_path / "perf_baseline.json"
    code = whatsapp_harness.main([*urls(ingests["failing"]), "--count", "30", "--batch-size", "5", "--max-retries",
                                  "0", "--report-file", str(report_file), "--no-progress", "--follow-timeout-s", "3"])
    out = capsys.readouterr().out
    assert code == 1, out[-2000:]
    report = json.loads(report_file.read_text())
    assert report["messages_lost"] > 0 and report["passed"] is False
    stanza = alert(out)
    assert any(re.fullmatch(r"  SLO skipped/error ratio < 2 %: measured [\d.]+ %", line) for line in stanza), stanza
    assert stanza[-1] == f"  report: {report_file}"
    assert "(FAIL: skipped/error ratio" in (tmp_path / "perf_baseline.md").read_text()


def test_messages_without_offers_breach_the_extraction_slo(ingests: dict[str, Service], tmp_path: Path,
                                                           harness_env: None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    report_file = tmp_path / "perf_baseline.json"
    code = whatsapp_harness.main([*urls(ingests["healthy"]), "--count", "20", "--batch-size", "10",
                                  "--no-offer-share", "0.2", "--report-file", str(report_file), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1, out[-2000:]
    report = json.loads(report_file.read_text())
    # The service's extractor finds no offer in the 4 unpriced messages: 16 of 20 created ones extracted.
    assert report["totals"]["created"] == 20 and report["totals"]["extracted"] == 16
    stanza = alert(out)
    assert "  SLO extracted/created >= 95 %: measured 80.0 %" in stanza
    assert not any("skipped/error" in line for line in stanza)


def test_a_slow_service_breaches_the_latency_slo(ingests: dict[str, Service], tmp_path: Path, harness_env: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # The service adds 300 ms to each request; a 0.2 s target (the harness's --slo-p95-s) must trip.
    report_file = tmp_path / "perf_baseline.json"
    code = whatsapp_harness.main([*urls(ingests["slow"]), "--count", "10", "--batch-size", "5", "--slo-p95-s", "0.2",
                                  "--report-file", str(report_file), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1, out[-2000:]
    report = json.loads(report_file.read_text())
    assert report["p95_ingest_to_offer_s"] >= 0.3
    assert any(re.fullmatch(r"  SLO p95 ingest→offer < 0.2 s: measured [\d.]+ s", line) for line in alert(out))


def test_rate_limited_batches_are_counted_as_429s(ingests: dict[str, Service], tmp_path: Path, harness_env: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # Two requests per minute per client: the third batch gets a 429, and without retries its messages are lost.
    report_file = tmp_path / "perf_baseline.json"
    code = whatsapp_harness.main([*urls(ingests["limited"]), "--count", "30", "--batch-size", "10",
                                  "--duplicate-share", "0", "--max-retries", "0", "--follow-timeout-s", "3",
                                  "--report-file", str(report_file), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1, out[-2000:]
    report = json.loads(report_file.read_text())
    assert report["rate_limited_429"] == 1 and report["http_statuses"] == {"200": 2, "429": 1}
    assert report["messages_lost"] == 10 and report["totals"]["created"] == 20
    assert "SLO skipped/error ratio" in "\n".join(alert(out))
    assert os.environ.get("WHATSAPP_INGEST_TOKEN") not in out
