"""The simulator: scripts of link outcomes drive the machine through its stories."""

from __future__ import annotations

import pytest

from services.session.machine import SessionState
from services.session.simulator import SCENARIOS, ScenarioError
from tests.services.session.conftest import Captured, MakeRig


def test_every_named_scenario_runs(make_rig: MakeRig) -> None:
    for name, script in SCENARIOS.items():
        rig = make_rig(f"s-{name}")
        script(rig.sim)
        assert rig.machine.state in (SessionState.CONNECTED, SessionState.DISCONNECTED, SessionState.FAILED), name


def test_the_clock_moves_by_the_heartbeat_interval_per_tick(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.machine.connect()
    start = rig.clock.now()

    rig.sim.heartbeats(3)

    per_beat = rig.sim.heartbeat_interval_s + rig.transport.timing.ping_s
    assert rig.clock.now() - start == pytest.approx(3 * per_beat)


def test_a_story_that_cannot_happen_is_an_error(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()
    rig.machine.connect()

    with pytest.raises(ScenarioError, match="session stayed connected for 5 steps, expected failed"):
        rig.sim.run_until_state(SessionState.FAILED, max_steps=5)
    assert len(captured.of("wa.session.heartbeat")) == 5


def test_an_outage_shorter_than_the_limit_does_not_reconnect(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()
    rig.machine.connect()

    rig.sim.lose_heartbeats(2)
    rig.sim.heartbeats(1)
    rig.sim.lose_heartbeats(2)

    assert rig.machine.state is SessionState.CONNECTED
    assert captured.of("wa.session.reconnect_attempt") == []
    assert [r.attributes["wa.heartbeat.missed"] for r in captured.of("wa.session.heartbeat_missed")] == [1, 2, 1, 2]
