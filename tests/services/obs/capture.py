"""In-memory capture of one app's telemetry with the SDK's own exporters, for assertions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services import obs


@dataclass
class Captured:
    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    logs: InMemoryLogRecordExporter = field(default_factory=InMemoryLogRecordExporter)
    metrics: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def attach(self, o: obs.Obs) -> Captured:
        o.add_span_exporter(self.spans)
        o.add_log_exporter(self.logs)
        return self

    def finished_spans(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def log_records(self) -> list[Any]:
        return [r.log_record for r in self.logs.get_finished_logs()]

    def metric_points(self) -> Iterator[tuple[str, Any]]:
        data = self.metrics.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        yield m.name, p

    def metric_names(self) -> set[str]:
        return {name for name, _ in self.metric_points()}

    def total(self, metric_name: str, /, **attrs: str) -> float:
        """Sum of a counter's (or histogram's count of) points whose attributes include ``attrs``."""
        out = 0.0
        for metric, point in self.metric_points():
            if metric == metric_name and all(point.attributes.get(k) == v for k, v in attrs.items()):
                out += point.value if hasattr(point, "value") else point.count
        return out


def everything_exported(captured: Captured) -> str:
    """Every span and log record as one string, for 'this value appears nowhere' checks."""
    parts: list[str] = []
    for s in captured.finished_spans():
        parts.append(s.name)
        parts.extend(f"{k}={v}" for k, v in (s.attributes or {}).items())
        for e in s.events:
            parts.extend(f"{k}={v}" for k, v in (e.attributes or {}).items())
        parts.append(str(s.status.description))
    for r in captured.log_records():
        parts.append(str(r.body))
        parts.extend(f"{k}={v}" for k, v in (r.attributes or {}).items())
    return "\n".join(parts)


def build_app(captured: Captured | None = None, **settings: Any) -> tuple[FastAPI, obs.Obs, Captured]:
    """A bare FastAPI app wired by ``obs.init``, with every record captured."""
    captured = captured or Captured()
    app = FastAPI()
    defaults: dict[str, Any] = {"LOG_SAMPLING_RATE_INFO": 1.0, "OBS_ADMIN_TOKEN": "a" * 24,
                                "HEALTH_PROBE_INTERVAL_SECONDS": 0}
    o = obs.init(app, obs.ObsSettings(**{**defaults, **settings}), service_name="demo-api",
                 extra_metric_readers=[captured.metrics])
    return app, o, captured.attach(o)
