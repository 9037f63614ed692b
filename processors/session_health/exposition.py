"""``/session/metrics``: Prometheus text, for one session (no id
labels: the route names it) or for the fleet (with ``wa_session_id`` and
``tenant_id`` labels). prometheus_client writes the exposition format.

``wa_session_state`` is a state set: one series per state, 1 for the current
one, so that ``wa_session_state{state="connected"}`` averages to the
connected ratio.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from contracts.session_events import STATES
from processors.session_health import emit
from processors.session_health.rollup import SessionView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ID_LABELS = ["wa_session_id", "tenant_id"]


class _ViewsCollector:
    def __init__(self, views: Iterable[tuple[str, SessionView]], with_ids: bool) -> None:
        self.views = list(views)
        self.with_ids = with_ids

    def collect(self) -> Iterator[Metric]:
        ids = _ID_LABELS if self.with_ids else []
        state = GaugeMetricFamily(emit.SESSION_STATE, emit.HELP[emit.SESSION_STATE], labels=[*ids, "state"])
        attempts = CounterMetricFamily(emit.RECONNECT_ATTEMPTS, emit.HELP[emit.RECONNECT_ATTEMPTS], labels=ids)
        age = GaugeMetricFamily(emit.HEARTBEAT_AGE, emit.HELP[emit.HEARTBEAT_AGE], labels=ids)
        breaker = GaugeMetricFamily(emit.BREAKER_OPEN, emit.HELP[emit.BREAKER_OPEN], labels=ids)
        for sid, view in self.views:
            st = view.state
            values = [sid, st.tenant_id] if self.with_ids else []
            for name in STATES:
                state.add_metric([*values, name], int(name == st.state))
            attempts.add_metric(values, st.reconnect_total)
            age.add_metric(values, round(emit.heartbeat_age_s(view), 3))
            breaker.add_metric(values, int(st.breaker_open))
        yield from (state, attempts, age, breaker)


def render(views: Iterable[tuple[str, SessionView]], *, with_ids: bool) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ViewsCollector(views, with_ids))
    return generate_latest(registry)
