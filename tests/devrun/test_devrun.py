"""`make run` stops what it started on SIGTERM as on Ctrl-C."""

from __future__ import annotations

import os
import signal

import pytest

from devrun import sigterm_as_interrupt


def test_sigterm_becomes_a_keyboard_interrupt_inside_and_the_old_handler_returns_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)  # handled before kill returns to this thread
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_outbound_and_crosssell_ports_follow_the_other_services_and_clash_with_nothing() -> None:
    import devrun

    assert (devrun.OUTBOUND_PORTS_BY_NAME["outbound"], devrun.CROSSSELL_API_PORT) == (8004, 8005)
    assert max(devrun.SERVICES.values()) < 8004
    groups = [devrun.COLLECTOR_PORTS, devrun.PROCESSOR_PORTS, devrun.STORE_PORTS, set(devrun.SERVICES.values()),
              devrun.OUTBOUND_PORTS, devrun.CROSSSELL_PORTS, devrun.RABBITMQ_PORTS, {devrun.CROSSSELL_REDIS_PORT}]
    ports = [p for g in groups for p in g]
    assert len(ports) == len(set(ports)), sorted(p for p in ports if ports.count(p) > 1)


def test_without_rabbitmq_server_the_outbound_service_says_so_in_one_line_and_nothing_starts(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import devrun

    monkeypatch.setattr(devrun, "rabbitmq_server_path", lambda: None)
    started: list = []
    env: dict[str, str] = {}
    assert devrun._start_outbound(env, started) == {}
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "rabbitmq-server is not installed" in out[0], out
    assert started == [] and env == {}
