"""The chat-send and proximity-nearby Locust files against divan-api on loopback, each gate in both
directions: a healthy service passes (exit 0), and the same file against a service with an injected
error rate or delay exits 1, naming the failed gate in an ALERT: stanza."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loadtests.conftest import Service, faults, run_locust, service
from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.e2e

# A scale this 2-core machine holds next to the service; the gates are the spec's.
CHAT = ("-u", "6", "-t", "8s")
NEARBY = ("-u", "4", "-r", "4", "-t", "8s", "--target-rps", "16")
SHORT = "5s"


@pytest.fixture(scope="module")
def divans(tmp_path_factory: pytest.TempPathFactory, redis_srv: RedisServer,
           postgres_srv: PostgresServer) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("divan")
    with service("divan", tmp, redis_srv, postgres_srv) as healthy, \
            service("divan", tmp, redis_srv, postgres_srv, **faults(error_rate=0.2)) as failing, \
            service("divan", tmp, redis_srv, postgres_srv, **faults(delay_ms=250)) as slow:
        yield {"healthy": healthy, "failing": failing, "slow": slow}


def gate_line(output: str, verdict: str, title: str, gate: str) -> re.Match[str]:
    match = re.search(rf"^GATE {verdict} {title}: {re.escape(gate)},? .*measured ([\d.]+) (ms|%) over (\d+) requests$",
                      output, re.MULTILINE)
    assert match, output[-3000:]
    assert int(match.group(3)) > 0
    return match


def test_chat_send_meets_its_gates_on_a_healthy_service(divans: dict[str, Service], tmp_path: Path) -> None:
    run = run_locust("chat_send.py", divans["healthy"].url, *CHAT, tmp=tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    gate_line(run.output, "PASS", "chat send", "non-2xx share < 1 %")
    p95 = gate_line(run.output, "PASS", "chat send", "p95 < 150 ms")
    assert float(p95.group(1)) < 150
    assert "ALERT:" not in run.output
    # Locust's own reports are written, the gated request among them.
    assert "POST,/chat/messages" in (tmp_path / "locust_stats.csv").read_text()


def test_chat_send_fails_the_error_gate_when_the_service_fails_requests(divans: dict[str, Service],
                                                                       tmp_path: Path) -> None:
    run = run_locust("chat_send.py", divans["failing"].url, "-u", "6", "-t", SHORT, tmp=tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    share = gate_line(run.output, "FAIL", "chat send", "non-2xx share < 1 %")
    assert float(share.group(1)) > 1
    assert "ALERT: chat send: 1 load gate(s) failed" in run.output
    assert re.search(r"^  gate non-2xx share < 1 %: measured [\d.]+ %$", run.output, re.MULTILINE)


def test_chat_send_fails_the_latency_gate_when_the_service_is_slow(divans: dict[str, Service],
                                                                  tmp_path: Path) -> None:
    run = run_locust("chat_send.py", divans["slow"].url, "-u", "6", "-t", SHORT, tmp=tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    p95 = gate_line(run.output, "FAIL", "chat send", "p95 < 150 ms")
    assert float(p95.group(1)) >= 250
    gate_line(run.output, "PASS", "chat send", "non-2xx share < 1 %")
    assert re.search(r"^  gate p95 < 150 ms: measured \d+ ms$", run.output, re.MULTILINE)


def test_proximity_nearby_holds_its_rate_and_gate_on_a_healthy_service(divans: dict[str, Service],
                                                                      tmp_path: Path) -> None:
    run = run_locust("proximity_nearby.py", divans["healthy"].url, *NEARBY, tmp=tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    p95 = gate_line(run.output, "PASS", "proximity nearby", "p95 < 120 ms")
    assert float(p95.group(1)) < 120
    rows = {line.split(",")[1]: line.split(",") for line in (tmp_path / "locust_stats.csv").read_text().splitlines()}
    header = (tmp_path / "locust_stats.csv").read_text().splitlines()[0].split(",")
    nearby = dict(zip(header, rows["/proximity/nearby"], strict=True))
    # constant_throughput paces the users at the target: over 8 s, at least half of 16/s on average
    # (the users start together, and the first second is partly spent on heartbeats).
    assert float(nearby["Requests/s"]) >= 8, nearby
    assert int(nearby["Failure Count"]) == 0


def test_proximity_nearby_fails_its_gate_when_the_service_is_slow(divans: dict[str, Service],
                                                                 tmp_path: Path) -> None:
    run = run_locust("proximity_nearby.py", divans["slow"].url, "-u", "4", "-r", "4", "-t", SHORT,
                     "--target-rps", "16", tmp=tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    p95 = gate_line(run.output, "FAIL", "proximity nearby", "p95 < 120 ms")
    assert float(p95.group(1)) >= 250
    assert "ALERT: proximity nearby: 1 load gate(s) failed" in run.output
