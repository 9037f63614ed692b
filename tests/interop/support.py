"""The two setups the interop tests send to, and the field-by-field comparison.

Setups (one of each per test module, see conftest.py):

- ``pipeline``: bin/otelcol (collector/gateway.yaml) → the processors
  (configs/pipeline.yaml) → bin/otelcol's file sinks;
- ``standalone``: the processors alone (configs/standalone.yaml), OTLP gRPC
  and HTTP in, Collector-format file sinks out.

Both run redaction and log sampling, so :func:`expected` turns what a client
sent into what must arrive by applying exactly the configured changes, and
:func:`assert_same` compares every field of every span, log record and data
point: ids, parents, names, kinds, timestamps, flags, trace state, attributes,
events, links, status, resource and scope with their schema URLs, severity,
body, metric type, temporality, unit and exemplars.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from processors.api import Signal
from processors.standalone import otlp_json
from tests.support.pipeline import collector_pipeline, read_sink
from tests.support.procs import REPO, Proc, free_port, wait_for_port

HERE = Path(__file__).resolve().parent
# The HMAC key of the email hash (at least 16 bytes); a test value, not a secret.
HMAC_KEY = "interop-test-hmac-key-0123456789"

# What configs/*.yaml configure, restated here so the expectation is independent of the code.
BLOCKED_KEY = re.compile(r"(?i)password")
MASK = "****"
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
INFO_RATIO = 0.5
WARN = 13
THRESHOLD = (1 << 56) - round(INFO_RATIO * (1 << 56))  # keep when the trace id's low 56 bits >= this
T_VALUE = f"{THRESHOLD:014x}".rstrip("0")



def trace_randomness(trace_id_hex: str) -> int:
    return int(trace_id_hex[-14:], 16)


def kept_trace_id(n: int = 0) -> str:
    """A valid trace id the sampler keeps (its low 56 bits at or above the threshold)."""
    tid = f"{0x4bf92f3577b34da6 + n:016x}" + "a3" + f"{0xe0 + n:02x}" + "ce929d0e0e47"
    assert trace_randomness(tid) >= THRESHOLD
    return tid


def dropped_trace_id(n: int = 0) -> str:
    """A valid trace id the sampler drops at INFO (its low 56 bits below the threshold)."""
    tid = f"{0x4bf92f3577b34da6 + n:016x}" + "a3" + f"{0x10 + n:02x}" + "ce929d0e0e47"
    assert trace_randomness(tid) < THRESHOLD
    return tid


# --- setups -------------------------------------------------------------------

@dataclass
class Setup:
    name: str
    grpc_endpoint: str  # host:port
    http_endpoint: str  # http://host:port
    _read: Callable[[Signal], list[Any]]
    log: Callable[[], str]

    def read(self, signal: Signal) -> list[Any]:
        return self._read(signal)

    def wait_for(self, signal: Signal, predicate: Callable[[list[Any]], bool], timeout: float = 30.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.read(signal)
            if predicate(reqs):
                return reqs
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} {signal.value}: condition not met after {timeout}s\n"
                                     f"{self.log()[-3000:]}")
            time.sleep(0.2)


@contextlib.contextmanager
def pipeline_setup(tmp: Path) -> Iterator[Setup]:
    with collector_pipeline(tmp, (HERE / "configs" / "pipeline.yaml").read_text(),
                            env={"REDACTION_HMAC_KEY": HMAC_KEY}) as p:
        yield Setup("pipeline", p.otlp_grpc_endpoint, p.otlp_http_endpoint, p.read,
                    lambda: p.processors.proc.output() if p.processors.proc else "")


@contextlib.contextmanager
def standalone_setup(tmp: Path) -> Iterator[Setup]:
    grpc_port, http_port = free_port(), free_port()
    sinks = tmp / "sinks"
    env = {
        "OTELPROC_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}", "OTELPROC_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "OTELPROC_SINK_DIR": str(sinks), "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "REDACTION_HMAC_KEY": HMAC_KEY,
    }
    argv = [sys.executable, "-m", "processors.cli", "serve", "--config", str(HERE / "configs" / "standalone.yaml")]
    proc = Proc(argv, log=tmp / "otelproc.log", env=env, cwd=REPO)
    try:
        for port in (grpc_port, http_port):
            try:
                wait_for_port(port, timeout=30, proc=proc.popen)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"standalone processors did not start: {exc}\n{proc.output()[-4000:]}") from None
        yield Setup("standalone", f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}",
                    lambda s: read_sink(sinks / f"{s.value}.jsonl", s), proc.output)
    finally:
        proc.stop(timeout=20)


_REQUEST = {Signal.TRACES: ExportTraceServiceRequest, Signal.LOGS: ExportLogsServiceRequest,
            Signal.METRICS: ExportMetricsServiceRequest}

# --- flattening -----------------------------------------------------------------

def _attrs(kvs: list[dict] | None) -> dict[str, Any]:
    """An attribute list as a map (order is not part of OTLP's meaning; keys are unique)."""
    return {kv["key"]: kv.get("value", {}) for kv in kvs or []}


def _context(entry: dict, scope_entry: dict) -> dict:
    res = entry.get("resource", {})
    scope = scope_entry.get("scope", {})
    return {
        "resource": {**res, "attributes": _attrs(res.get("attributes"))},
        "resourceSchemaUrl": entry.get("schemaUrl", ""),
        "scope": {**scope, "attributes": _attrs(scope.get("attributes"))},
        "scopeSchemaUrl": scope_entry.get("schemaUrl", ""),
    }


def _dict(message: Any) -> dict:
    """A decoded request as the OTLP/JSON dict the Collector writes (hex ids, ints as strings)."""
    return json.loads(otlp_json.encode(_signal_of(message), message))


def _signal_of(message: Any) -> Signal:
    name = type(message).__name__
    return {"ExportTraceServiceRequest": Signal.TRACES, "ExportLogsServiceRequest": Signal.LOGS,
            "ExportMetricsServiceRequest": Signal.METRICS}[name]


def flatten(signal: Signal, requests: list[Any]) -> list[dict]:
    """Every span, log record or metric data point, each with its resource, scope and metric."""
    items: list[dict] = []
    for req in requests:
        data = req if isinstance(req, dict) else _dict(req)
        if signal is Signal.TRACES:
            for rs in data.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        sp = copy.deepcopy(sp)
                        sp["attributes"] = _attrs(sp.get("attributes"))
                        for ev in sp.get("events", []):
                            ev["attributes"] = _attrs(ev.get("attributes"))
                        for ln in sp.get("links", []):
                            ln["attributes"] = _attrs(ln.get("attributes"))
                        items.append({**_context(rs, ss), "span": sp})
        elif signal is Signal.LOGS:
            for rl in data.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    for rec in sl.get("logRecords", []):
                        rec = copy.deepcopy(rec)
                        rec["attributes"] = _attrs(rec.get("attributes"))
                        items.append({**_context(rl, sl), "log": rec})
        else:
            for rm in data.get("resourceMetrics", []):
                for sm in rm.get("scopeMetrics", []):
                    for metric in sm.get("metrics", []):
                        kinds = [k for k in ("gauge", "sum", "histogram", "exponentialHistogram", "summary")
                                 if k in metric]
                        head = {k: v for k, v in metric.items() if k not in kinds}
                        for kind in kinds:
                            body = metric[kind]
                            meta = {k: v for k, v in body.items() if k != "dataPoints"}
                            for dp in body.get("dataPoints", []):
                                dp = copy.deepcopy(dp)
                                dp["attributes"] = _attrs(dp.get("attributes"))
                                for ex in dp.get("exemplars", []):
                                    ex["filteredAttributes"] = _attrs(ex.get("filteredAttributes"))
                                items.append({**_context(rm, sm), "metric": {**head, "type": kind, **meta},
                                              "point": dp})
    return items


def decode_lines(path: Path) -> dict[Signal, list[Any]]:
    """A client's capture file as decoded requests per signal: one ``{"signal", "json"|"protobuf"}``
    per line, the request as the client encoded it (OTLP/JSON text, or base64 protobuf)."""
    out: dict[Signal, list[Any]] = {s: [] for s in Signal}
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            signal = Signal(entry["signal"])
            if "json" in entry:
                out[signal].append(otlp_json.decode(signal, entry["json"]))
            else:
                req = _REQUEST[signal]()
                req.ParseFromString(base64.b64decode(entry["protobuf"]))
                out[signal].append(req)
    return out


# --- the configured changes -------------------------------------------------------------

def _email_hash(value: str) -> str:
    return hmac.new(HMAC_KEY.encode(), value.lower().encode(), hashlib.sha256).hexdigest()


def _redact_value(key: str | None, value: dict) -> dict:
    if key is not None and BLOCKED_KEY.search(key):
        return {"stringValue": MASK}
    if "stringValue" in value and EMAIL.match(value["stringValue"]):
        return {"stringValue": _email_hash(value["stringValue"])}
    if "arrayValue" in value:
        return {"arrayValue": {"values": [_redact_value(None, v) for v in value["arrayValue"].get("values", [])]}}
    if "kvlistValue" in value:
        return {"kvlistValue": {"values": [{"key": kv["key"], "value": _redact_value(kv["key"], kv.get("value", {}))}
                                           for kv in value["kvlistValue"].get("values", [])]}}
    return value


def _redact(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _redact_value(k, v) for k, v in attrs.items()}


def expected(signal: Signal, sent: list[dict]) -> tuple[list[dict], list[dict]]:
    """(what must arrive, what may arrive) for what was sent: redaction applied everywhere,
    and log records below WARN kept by trace id at INFO_RATIO with their weight and threshold.
    An untraced record below WARN is decided by a per-record hash: it may arrive (weighted)."""
    must: list[dict] = []
    may: list[dict] = []
    for item in copy.deepcopy(sent):
        item["resource"]["attributes"] = _redact(item["resource"]["attributes"])
        item["scope"]["attributes"] = _redact(item["scope"]["attributes"])
        if signal is Signal.TRACES:
            sp = item["span"]
            sp["attributes"] = _redact(sp["attributes"])
            for part in (*sp.get("events", []), *sp.get("links", [])):
                part["attributes"] = _redact(part["attributes"])
        elif signal is Signal.METRICS:
            item["point"]["attributes"] = _redact(item["point"]["attributes"])
            for ex in item["point"].get("exemplars", []):
                ex["filteredAttributes"] = _redact(ex["filteredAttributes"])
        else:
            rec = item["log"]
            rec["attributes"] = _redact(rec["attributes"])
            if rec.get("severityNumber", 0) < WARN:
                tid = rec.get("traceId", "")
                if tid and int(tid, 16) != 0:
                    if trace_randomness(tid) < THRESHOLD:
                        continue  # dropped with its whole trace
                    rec["attributes"]["sampling.weight"] = {"doubleValue": 1 / INFO_RATIO}
                    rec["attributes"]["sampling.threshold"] = {"stringValue": T_VALUE}
                else:
                    rec["attributes"]["sampling.weight"] = {"doubleValue": 1 / INFO_RATIO}
                    may.append(item)
                    continue
        must.append(item)
    return must, may


# --- comparison -------------------------------------------------------------------------

def _canon(item: dict) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=False)


def assert_same(signal: Signal, sent: list[dict], arrived: list[dict], *, where: str) -> None:
    """Arrived equals sent, field by field, up to the configured changes (as multisets)."""
    must, may = expected(signal, sent)
    want = sorted(_canon(i) for i in must)
    optional = [_canon(i) for i in may]
    got = sorted(_canon(i) for i in arrived)
    extra = list(got)
    missing = []
    for w in want:
        if w in extra:
            extra.remove(w)
        else:
            missing.append(w)
    for o in optional:
        if o in extra:
            extra.remove(o)
    if missing or extra:
        report = []
        for m in missing[:3]:
            want_item = json.loads(m)
            diffs = min(([*_differences(want_item, json.loads(x))] for x in extra), key=len, default=None)
            report.append("\n".join(diffs[:20]) if diffs is not None
                          else "nothing arrived to compare with:\n" + m[:2000])
        raise AssertionError(
            f"{where} {signal.value}: {len(missing)} expected item(s) did not arrive, {len(extra)} arrived unexpected "
            f"({len(want)} expected, {len(got)} arrived); closest differences (path: expected != arrived):\n"
            + "\n---\n".join(report) + ("" if missing else "\nunexpected:\n" + extra[0][:3000]))


def _differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                yield f"{path}.{k}: {json.dumps(a[k], ensure_ascii=False)[:200]} != (absent)"
            elif k not in a:
                yield f"{path}.{k}: (absent) != {json.dumps(b[k], ensure_ascii=False)[:200]}"
            else:
                yield from _differences(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: {json.dumps(a, ensure_ascii=False)[:200]} != {json.dumps(b, ensure_ascii=False)[:200]}"


def of_service(items: list[dict], service: str) -> list[dict]:
    return [i for i in items if i["resource"]["attributes"].get("service.name", {}).get("stringValue") == service]
