"""The dashboards, built in code with grafana-foundation-sdk.

Each module defines ``build() -> Dashboard``; ``backends.grafana.build`` writes
their JSON to ``json/``. Every query reads the Prometheus datasource (uid
``prometheus``) and uses only series a live scrape of the pipeline has, or a
recording rule of ``backends/prometheus/rules``.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard, DataSourceRef
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
REFRESH = "30s"


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False, table_format: bool = False,
          exemplar: bool = False) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS)
    if legend:
        q = q.legend_format(legend)
    q = q.instant() if instant else q.range()
    if table_format:
        q = q.format(PromQueryFormat.TABLE)
    if exemplar:
        q = q.exemplar(True)
    return q


def p95(histogram: str, by: str = "") -> str:
    """The 95th percentile of a histogram's ``_bucket`` series over $__rate_interval, optionally by labels."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.95, sum by ({labels}) (rate({histogram}_bucket[$__rate_interval])))"


def _targets(panel: timeseries.Panel, queries: tuple[Any, ...]) -> timeseries.Panel:
    for i, q in enumerate(queries):
        panel = panel.with_target(query(*q, ref=chr(ord("A") + i)) if isinstance(q, tuple) else q)
    return panel


def graph(title: str, *queries: tuple[str, ...] | prometheus.Dataquery, unit: str = "short",
          description: str = "", width: int = 12, height: int = 8) -> timeseries.Panel:
    """A time series panel; each query is ``(expr, legend)`` or a built query."""
    p = timeseries.Panel().title(title).datasource(PROMETHEUS).unit(unit).span(width).height(height)
    if description:
        p = p.description(description)
    return _targets(p, queries)


def single(title: str, expr: str, *, unit: str = "short", description: str = "", width: int = 4) -> stat.Panel:
    p = stat.Panel().title(title).datasource(PROMETHEUS).unit(unit).span(width).height(4)
    if description:
        p = p.description(description)
    return p.with_target(query(expr, instant=True))


def listing(title: str, expr: str, *, description: str = "", width: int = 24) -> table.Panel:
    p = table.Panel().title(title).datasource(PROMETHEUS).span(width).height(8)
    if description:
        p = p.description(description)
    return p.with_target(query(expr, instant=True, table_format=True))


class Board:
    """A dashboard builder that numbers its rows and panels in the order they are added."""

    def __init__(self, uid: str, title: str, tags: list[str], description: str) -> None:
        self._builder = (db.Dashboard(title).uid(uid).tags(["otelpipe", *tags]).description(description)
                         .time("now-6h", "now").refresh(REFRESH).timezone("browser").editable())
        self._ids = 0

    def _next(self) -> int:
        self._ids += 1
        return self._ids

    def row(self, title: str) -> Board:
        self._builder.with_row(db.Row(title).id(self._next()))
        return self

    def panel(self, panel: Any) -> Board:
        self._builder.with_panel(panel.id(self._next()))
        return self

    def build(self) -> Dashboard:
        return self._builder.build()


def new(uid: str, title: str, tags: list[str], description: str) -> Board:
    return Board(uid, title, tags, description)
