"""The ``prometheus`` exporter: OTLP metrics as a Prometheus scrape endpoint,
translated by the rules of the Collector's prometheus exporter (v0.159:
exporter/prometheusexporter with prometheus/otlptranslator v1.0.0), so a
dashboard reads the same series whether the Collector or standalone mode serves
them.

    exporters:
      prometheus:
        endpoint: 0.0.0.0:8889           # GET /metrics
        namespace: shop                  # shop_http_server_duration_seconds
        const_labels: {env: prod}
        metric_expiration: 5m
        resource_to_telemetry_conversion: {enabled: false}

``export()`` only updates the latest value of each series in memory; scrapes
render them through a prometheus_client collector on a registry of its own,
served by aiohttp. Both run on the event loop, so no lock is needed.

Translation (as the Collector does it):

- names: characters outside ``[a-zA-Z0-9:]`` split the name into words joined by
  ``_``; the unit becomes a suffix (``s`` -> ``_seconds``, ``By`` -> ``_bytes``,
  ``By/s`` -> ``_bytes_per_second``, ``{items}`` -> nothing, ``1`` -> ``_ratio``
  on gauges only); monotonic sums end in ``_total``; a leading digit gets ``_``;
- types: gauge -> gauge; cumulative monotonic sum -> counter; non-monotonic
  cumulative sum -> gauge; delta monotonic sum -> counter, accumulated;
  histogram -> ``_bucket{le}``/``_sum``/``_count`` (delta ones accumulated);
  summary -> ``{quantile}``/``_sum``/``_count``;
- labels: attribute keys with every character outside ``[a-zA-Z0-9]`` made
  ``_`` and ``key_`` before a leading digit; values as the Collector prints
  them (``true``, ``1.5``, JSON for arrays and maps); ``otel_scope_name``,
  ``otel_scope_version``, ``otel_scope_schema_url`` and ``otel_scope_<attr>``;
  ``job`` = ``service.namespace/service.name``, ``instance`` = ``service.instance.id``;
- ``target_info`` carries the other resource attributes of each job/instance;
- a point older than the one held is ignored; the no-recorded-value flag
  removes the series; series not updated for ``metric_expiration`` go away.
- a metric without data points (no data field, or one with no points) is no
  family at all: nothing is exposed for it and nothing counted as dropped,
  as the Collector skips it (the file exporter leaves it out likewise).

Where the Collector drops data with only an error in its log, this exporter
counts it on ``otelproc_dropped_items_total{component=<id>, reason=...}``:
exponential histograms (the text format has no native histograms),
non-monotonic delta sums, unspecified temporality, points older than the one
held, delta histograms whose start overlaps the previous point, names or
labels that sanitise to nothing, and data points whose labels collide with
``job``, ``instance``, ``otel_scope_*``, a const label, ``le`` or ``quantile``,
or whose metric name is already a family of another type.

Two deliberate differences: two attributes that sanitise to the same label
(``a.b`` and ``a_b``) are joined with ``;`` (as ``target_info`` and the
remote-write translator do) where the Collector drops the metric; and a delta
point with no start time is added to the running total where the Collector
replaces it.
"""

from __future__ import annotations

import decimal
import functools
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from aiohttp import web
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import BeforeValidator, Field, field_validator

# A label's text is the Collector's AsString of the attribute.
from contracts.anyvalue import as_string as value_text
from processors.api import CreateSettings, Exporter, Payload, Signal
from processors.config import ComponentConfig
from processors.registry import Factory

log = logging.getLogger("otelproc.exporters.prometheus")

# Drop reasons (otelproc_dropped_items_total{reason=...}).
EXPONENTIAL_HISTOGRAM = "exponential_histogram_unsupported"
DELTA_NON_MONOTONIC = "delta_non_monotonic_sum"
UNSPECIFIED_TEMPORALITY = "unspecified_temporality"
OUT_OF_ORDER = "out_of_order"
MISALIGNED_DELTA = "misaligned_delta"
INVALID_NAME = "invalid_name"
INVALID_LABEL = "invalid_label"
LABEL_CONFLICT = "label_conflict"
TYPE_CONFLICT = "type_conflict"
INVALID_HISTOGRAM = "invalid_histogram"

TARGET_INFO = "target_info"
SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_INSTANCE_ID = "service.instance.id"
_SCOPE_RESERVED = frozenset({"name", "version", "schema_url"})
_NO_RECORDED_VALUE = metrics_pb2.DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_DELTA = metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_CUMULATIVE = metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
_PROMETHEUS_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OWNED_LABELS = frozenset({"job", "instance", "le", "quantile"})


# --- config ------------------------------------------------------------------------

_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> Any:
    """Seconds from a Go duration (``5m``, ``1h30m``, ``250ms``), as the Collector's config takes it.

    Numbers pass through as seconds. Hand-written because the format is a
    handful of units and pulling a dependency in for it is not worth it.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    pos, total = 0, 0.0
    while pos < len(text):
        match = _GO_DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h30m")
        total += float(match.group(1)) * _GO_DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise ValueError("an empty string is not a duration")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]


class ResourceToTelemetryConfig(ComponentConfig):
    enabled: bool = Field(default=False, description="Default false. Copy every resource attribute onto every series.")


class PrometheusExporterConfig(ComponentConfig):
    endpoint: str = Field(default="0.0.0.0:8889", description="Default 0.0.0.0:8889. host:port serving GET /metrics.")
    namespace: str = Field(default="", description="Default none. Prefix of every metric name (namespace_...).")
    const_labels: dict[str, str] = Field(
        default_factory=dict, description="Default none. Labels added to every series but target_info.")
    metric_expiration: Duration = Field(
        default=300.0, gt=0, description="Default 5m. A series not updated for this long is no longer exposed.")
    resource_to_telemetry_conversion: ResourceToTelemetryConfig = Field(default_factory=ResourceToTelemetryConfig)

    @field_validator("endpoint")
    @classmethod
    def _host_port(cls, endpoint: str) -> str:
        host, sep, port = endpoint.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{endpoint!r} is not host:port")
        return endpoint

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, namespace: str) -> str:
        if namespace and not _PROMETHEUS_NAME.fullmatch(namespace):
            raise ValueError(f"{namespace!r} is not a Prometheus name ([a-zA-Z_][a-zA-Z0-9_]*)")
        return namespace

    @field_validator("const_labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not _PROMETHEUS_NAME.fullmatch(name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)")
            if name in _OWNED_LABELS or name.startswith("otel_scope_"):
                raise ValueError(f"{name!r} is set by the exporter itself; choose another label name")
        return labels

    @property
    def host(self) -> str:
        return self.endpoint.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.endpoint.rpartition(":")[2])


# --- names (prometheus/otlptranslator v1.0.0, as the Collector configures it) ----------------------

GAUGE, MONOTONIC_COUNTER, NON_MONOTONIC_COUNTER, HISTOGRAM, SUMMARY = (
    "gauge", "monotonic_counter", "non_monotonic_counter", "histogram", "summary")

UNIT_MAP = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
PER_UNIT_MAP = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}
_NOT_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9:]+")
_NOT_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9:]")
_UNDERSCORES = re.compile(r"__+")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9]")


@functools.lru_cache(maxsize=4096)
def metric_name(name: str, unit: str, kind: str, namespace: str = "") -> str | None:
    """The Prometheus name of an OTLP metric, or None when nothing valid is left of it."""
    tokens = [t for t in _NOT_METRIC_CHARS.split(name) if t]
    main, per = _unit_suffixes(unit)
    tokens = _add_unit_tokens(tokens, _clean_unit(main), _clean_unit(per))
    if kind == MONOTONIC_COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens = [namespace, *tokens]
    out = "_".join(tokens)
    if out and out[0] in "0123456789":
        out = "_" + out
    if not out or (out != name and not out.strip("_")):
        return None
    return out


def _unit_suffixes(unit: str) -> tuple[str, str]:
    parts = unit.split("/", 1)
    main = parts[0].strip()
    main = UNIT_MAP.get(main, main) if main and "{" not in main and "}" not in main else ""
    per = ""
    if len(parts) > 1 and parts[1]:
        per_unit = parts[1].strip()
        if per_unit and "{" not in per_unit and "}" not in per_unit:
            per = PER_UNIT_MAP.get(per_unit, per_unit)
        if per:
            per = "per_" + per
    return main, per


def _clean_unit(unit: str) -> str:
    return _UNDERSCORES.sub("_", _NOT_METRIC_CHAR.sub("_", unit)).removeprefix("_")


def _add_unit_tokens(tokens: list[str], main: str, per: str) -> list[str]:
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    return tokens + [s for s in (main, per) if s]


@functools.lru_cache(maxsize=8192)
def label_name(key: str) -> str | None:
    """The Prometheus label for an attribute key, or None when it cannot be one."""
    if not key:
        return None
    out = _NOT_LABEL_CHAR.sub("_", key)
    if out[0] in "0123456789":
        out = "key_" + out
    # Only underscores is no name; a leading __ is reserved for Prometheus itself.
    if not out.strip("_") or out.startswith("__"):
        return None
    return out


def go_float(f: float) -> str:
    """A float as Go's client library writes ``le`` and ``quantile`` values ('g', shortest):
    5, 0.25, 1e+06. Prometheus compares label values as text, so le="5" and le="5.0" differ."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(f)).normalize().as_tuple()  # repr: the shortest digits
    text, point = "".join(map(str, digits)), len(digits) + int(exponent)
    minus = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'+' if point >= 1 else '-'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


# --- state -----------------------------------------------------------------------------


@dataclass(eq=False)
class Target:
    """What one resource contributes: job, instance, target_info labels and, for
    resource_to_telemetry_conversion, its attributes. Plain strings only: a series
    must not keep the request it came from alive."""

    job: str | None
    instance: str | None
    info_labels: dict[str, str]
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(eq=False, slots=True)
class Series:
    target: Target
    time_ns: int
    start_ns: int
    updated: float
    value: float = 0.0
    count: int = 0
    sum: float = 0.0
    bounds: tuple[float, ...] = ()
    buckets: tuple[int, ...] = ()
    quantiles: dict[float, float] = field(default_factory=dict)


@dataclass(eq=False)
class Family:
    name: str
    kind: str  # gauge | counter | histogram | summary
    help: str
    series: dict[tuple[tuple[str, str], ...], Series] = field(default_factory=dict)


# --- the exporter ------------------------------------------------------------------------


class PrometheusExporter(Exporter):
    def __init__(self, config: PrometheusExporterConfig, settings: CreateSettings) -> None:
        self.config = config
        self.id = settings.component_id
        self.telemetry = settings.telemetry
        self.families: dict[str, Family] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_FamiliesCollector(self))
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._const_labels = tuple(sorted(config.const_labels.items()))
        self._resource_labels = config.resource_to_telemetry_conversion.enabled
        self._last_sweep = time.monotonic()
        self._warned: set[str] = set()

    # lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host or None, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise RuntimeError(
                f"exporters.{self.id}: cannot listen on {self.config.endpoint}: {exc.strerror or exc}") from None
        self.port = self._runner.addresses[0][1]

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape(self, request: web.Request) -> web.Response:
        # The classic text format (names are sanitised to legacy names), readable by every Prometheus.
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    # export

    async def export(self, payload: Payload) -> None:
        drops: Counter[str] = Counter()
        now = time.monotonic()
        for rm in payload.message.resource_metrics:
            target = self._target(rm.resource.attributes)
            for sm in rm.scope_metrics:
                scope = self._scope_labels(sm)
                for metric in sm.metrics:
                    self._add_metric(metric, target, scope, now, drops)
        for reason, items in drops.items():
            self.telemetry.dropped(Signal.METRICS.value, self.id, reason, items)
        if now - self._last_sweep > min(self.config.metric_expiration, 10.0):
            self.expire(now)

    def _target(self, attributes: Sequence[Any]) -> Target:
        by_key = {kv.key: kv.value for kv in attributes}
        job = None
        if SERVICE_NAME in by_key:
            job = value_text(by_key[SERVICE_NAME])
            if SERVICE_NAMESPACE in by_key:
                job = f"{value_text(by_key[SERVICE_NAMESPACE])}/{job}"
        instance = value_text(by_key[SERVICE_INSTANCE_ID]) if SERVICE_INSTANCE_ID in by_key else None
        info = _joined_labels((k, value_text(v)) for k, v in by_key.items()
                              if k not in (SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID))
        copied = tuple((k, value_text(v)) for k, v in by_key.items()) if self._resource_labels else ()
        return Target(job, instance, info, copied)

    def _scope_labels(self, sm: Any) -> list[tuple[str, str]]:
        labels = []
        for kv in sm.scope.attributes:
            if kv.key not in _SCOPE_RESERVED and (name := label_name("otel_scope_" + kv.key)):
                labels.append((name, value_text(kv.value)))
        labels += [("otel_scope_name", sm.scope.name), ("otel_scope_version", sm.scope.version),
                   ("otel_scope_schema_url", sm.schema_url)]
        return labels

    def _add_metric(self, metric: Any, target: Target, scope: list[tuple[str, str]], now: float,
                    drops: Counter[str]) -> None:
        data = metric.WhichOneof("data")
        if data is None:
            return
        body = getattr(metric, data)
        points = body.data_points
        if data == "exponential_histogram":
            drops[EXPONENTIAL_HISTOGRAM] += len(points)
            return
        temporality = getattr(body, "aggregation_temporality", _CUMULATIVE)
        if temporality not in (_DELTA, _CUMULATIVE):
            drops[UNSPECIFIED_TEMPORALITY] += len(points)
            return
        if data == "sum" and temporality == _DELTA and not body.is_monotonic:
            drops[DELTA_NON_MONOTONIC] += len(points)
            return
        naming, kind = {
            "gauge": (GAUGE, "gauge"), "histogram": (HISTOGRAM, "histogram"), "summary": (SUMMARY, "summary"),
        }.get(data) or ((MONOTONIC_COUNTER, "counter") if body.is_monotonic else (NON_MONOTONIC_COUNTER, "gauge"))
        name = metric_name(metric.name, metric.unit, naming, self.config.namespace)
        if name is None:
            drops[INVALID_NAME] += len(points)
            return
        family = self.families.get(name)
        if family is not None and family.kind != kind:
            drops[TYPE_CONFLICT] += len(points)
            if name not in self._warned:
                self._warned.add(name)
                log.warning("%s: %s is already a %s; dropping the %s %r (counted as %s from now on)",
                            self.id, name, family.kind, kind, metric.name, TYPE_CONFLICT)
            return
        if family is None:
            family = Family(name, kind, metric.description)
        reserved = {"le"} if kind == "histogram" else {"quantile"} if kind == "summary" else set()
        for point in points:
            labels, problem = self._labels(point.attributes, target, scope, reserved)
            if labels is None:
                drops[problem] += 1
                continue
            if point.flags & _NO_RECORDED_VALUE:
                family.series.pop(labels, None)
                continue
            problem = _update(family, labels, point, target, now, delta=temporality == _DELTA)
            if problem:
                drops[problem] += 1
        if family.series and name not in self.families:
            self.families[name] = family

    def _labels(self, attributes: Sequence[Any], target: Target, scope: list[tuple[str, str]],
                reserved: set[str]) -> tuple[tuple[tuple[str, str], ...] | None, str]:
        pairs: Iterator[tuple[str, str]]
        if self._resource_labels:
            merged = {kv.key: value_text(kv.value) for kv in attributes}
            merged.update(target.attributes)  # the resource wins, as in the Collector
            pairs = iter(merged.items())
        else:
            pairs = ((kv.key, value_text(kv.value)) for kv in attributes)
        grouped: dict[str, list[tuple[str, str]]] = {}
        for key, text in pairs:
            name = label_name(key)
            if name is None:
                return None, INVALID_LABEL
            grouped.setdefault(name, []).append((key, text))
        labels = {name: ";".join(v for _, v in sorted(values)) for name, values in grouped.items()}
        owned = list(scope) + list(self._const_labels)
        if target.job is not None:
            owned.append(("job", target.job))
        if target.instance is not None:
            owned.append(("instance", target.instance))
        for name, value in owned:
            if name in labels:
                return None, LABEL_CONFLICT
            labels[name] = value
        if reserved & labels.keys():
            return None, LABEL_CONFLICT
        return tuple(sorted(labels.items())), ""

    # collect

    def expire(self, now: float | None = None) -> None:
        """Forget series not updated within metric_expiration."""
        now = time.monotonic() if now is None else now
        oldest = now - self.config.metric_expiration
        for name in list(self.families):
            family = self.families[name]
            for labels in [k for k, s in family.series.items() if s.updated < oldest]:
                del family.series[labels]
            if not family.series:
                del self.families[name]
        self._last_sweep = now

    def collect(self) -> Iterator[Metric]:
        self.expire()
        yield from self._target_info()
        for family in self.families.values():
            yield _render(family)

    def _target_info(self) -> Iterator[Metric]:
        seen: dict[tuple[str, str], Target] = {}
        for family in self.families.values():
            for series in family.series.values():
                t = series.target
                if t.job and t.instance:
                    seen.setdefault((t.job, t.instance), t)
        if not seen:
            return
        name = f"{self.config.namespace}_{TARGET_INFO}" if self.config.namespace else TARGET_INFO
        metric = Metric(name, "Target metadata", "gauge")
        for (job, instance), target in seen.items():
            metric.add_sample(name, {**target.info_labels, "job": job, "instance": instance}, 1.0)
        yield metric


def _joined_labels(pairs: Iterator[tuple[str, str]]) -> dict[str, str]:
    """Attributes as labels; keys that sanitise alike are joined with ';'. Unusable keys are left out."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for key, text in pairs:
        name = label_name(key)
        if name is not None:
            grouped.setdefault(name, []).append((key, text))
    return {name: ";".join(v for _, v in sorted(values)) for name, values in grouped.items()}


def _number(point: Any) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double


def _update(family: Family, labels: tuple, point: Any, target: Target, now: float, *, delta: bool) -> str:
    """Fold one data point into its series; a drop reason, or '' when it was taken."""
    held = family.series.get(labels)
    kind = family.kind
    if kind == "histogram" and point.bucket_counts and len(point.bucket_counts) != len(point.explicit_bounds) + 1:
        return INVALID_HISTOGRAM
    if held is not None and not (delta and kind == "histogram") and point.time_unix_nano < held.time_ns:
        return OUT_OF_ORDER
    fresh = Series(target, point.time_unix_nano, point.start_time_unix_nano, now)
    if kind in ("gauge", "counter"):
        fresh.value = _number(point)
        if delta and held is not None and point.start_time_unix_nano in (held.time_ns, 0):
            fresh.value += held.value  # the next window of the same counter
            fresh.start_ns = held.start_ns
    elif kind == "summary":
        fresh.count, fresh.sum = point.count, point.sum
        fresh.quantiles = {q.quantile: q.value for q in point.quantile_values}
    else:
        fresh.count, fresh.sum = point.count, point.sum
        fresh.bounds, fresh.buckets = tuple(point.explicit_bounds), tuple(point.bucket_counts)
        if delta and held is not None:
            if point.start_time_unix_nano in (held.time_ns, 0):
                _add_histogram(fresh, held)
            elif point.start_time_unix_nano < held.time_ns:
                return MISALIGNED_DELTA  # overlaps what is already counted
            # else: a gap, taken as a restart: the new window replaces the total
    family.series[labels] = fresh
    return ""


def _add_histogram(fresh: Series, held: Series) -> None:
    fresh.start_ns = held.start_ns
    if fresh.bounds == held.bounds and len(fresh.buckets) == len(held.buckets):
        fresh.count += held.count
        fresh.sum += held.sum
        fresh.buckets = tuple(a + b for a, b in zip(fresh.buckets, held.buckets, strict=True))
    # Other bounds: the newer window alone, as the Collector does.


def _render(family: Family) -> Metric:
    name = family.name
    if family.kind == "counter":
        metric = Metric(name.removesuffix("_total"), family.help, "counter")
        for labels, s in family.series.items():
            metric.add_sample(name, dict(labels), s.value)
    elif family.kind == "gauge":
        metric = Metric(name, family.help, "gauge")
        for labels, s in family.series.items():
            metric.add_sample(name, dict(labels), s.value)
    elif family.kind == "summary":
        metric = Metric(name, family.help, "summary")
        for labels, s in family.series.items():
            for q, v in s.quantiles.items():
                metric.add_sample(name, {**dict(labels), "quantile": go_float(q)}, v)
            metric.add_sample(name + "_sum", dict(labels), s.sum)
            metric.add_sample(name + "_count", dict(labels), float(s.count))
    else:
        metric = Metric(name, family.help, "histogram")
        for labels, s in family.series.items():
            for le, cumulative in _cumulative_buckets(s):
                metric.add_sample(name + "_bucket", {**dict(labels), "le": go_float(le)}, float(cumulative))
            metric.add_sample(name + "_bucket", {**dict(labels), "le": "+Inf"}, float(s.count))
            metric.add_sample(name + "_sum", dict(labels), s.sum)
            metric.add_sample(name + "_count", dict(labels), float(s.count))
    return metric


def _cumulative_buckets(s: Series) -> list[tuple[float, int]]:
    """Bounds deduplicated (first index wins) and sorted, counts summed up to each: as the Collector."""
    if not s.buckets:
        return []  # no bucket counts: only the +Inf bucket means anything
    first_index: dict[float, int] = {}
    for i, bound in enumerate(s.bounds):
        first_index.setdefault(bound, i)
    out, running = [], 0
    for bound in sorted(first_index):
        running += s.buckets[first_index[bound]]
        out.append((bound, running))
    return out


class _FamiliesCollector:
    """The prometheus_client side: renders the exporter's families on each scrape."""

    def __init__(self, exporter: PrometheusExporter) -> None:
        self._exporter = exporter

    def describe(self) -> list[Metric]:
        return []  # dynamic: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        return self._exporter.collect()


FACTORY = Factory(type="prometheus", config_model=PrometheusExporterConfig, create=PrometheusExporter,
                  signals=frozenset({Signal.METRICS}), stability="beta")
