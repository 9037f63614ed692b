"""OTLP export requests to and from OTLP/JSON, as the Collector writes them.

``encode`` produces what the Collector's pdata JSON marshaler produces (the
format of its file exporter: one request per line): lowerCamelCase keys,
64-bit integers as decimal strings, enums as integers, default values left
out, trace and span ids as lowercase hex. ``decode`` reads that, and also the
rest of what the OTLP/HTTP JSON encoding allows (integers as numbers or
strings, enum names, snake_case keys, unknown keys ignored), so the OTLP/HTTP
receiver uses it for ``application/json`` bodies.

``decode`` refuses, with MalformedPayload naming the key, what JSON parsers
disagree on or the Collector refuses: a key given twice in one object (which
one wins differs between parsers), the bare ``NaN``/``Infinity`` literals
(not JSON; doubles spell them as strings), an integer of more than 4,300
digits (Python's conversion limit; no OTLP field holds one), and an enum
(``kind``, ``code``, ``severityNumber``, ``aggregationTemporality``) that is
neither an integer nor one of its value names.

Both build on ``google.protobuf.json_format``, which already follows the
proto3 JSON mapping. Only these differ in what pdata writes, and the walks
below fix exactly those:

- ids: the proto3 mapping writes ``bytes`` as base64, OTLP/JSON writes trace
  and span ids (spans, links, log records, exemplars) as hex; an all-zero id
  is no id to pdata, so it is left out (and read back as empty);
- embedded messages that pdata declares non-nullable are always written, even
  when empty: ``resource``, ``scope``, ``status``, a key-value's ``value``, a
  log record's ``body``, an exponential histogram point's ``positive`` and
  ``negative`` (checked against bin/otelcol in tests/processors/standalone/test_otlp_json.py).

Lines are equal to the Collector's as JSON values, not byte for byte: key order
follows the .proto, and a double may be spelt differently (Go writes 100 and
42691393249779740 where Python writes 100.0 and 4.269139324977974e+16, the
same doubles).
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from processors.api import MalformedPayload, Signal

# Characters other than \n and \r that some readers take for line ends (json.dumps escapes the rest).
_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")
# A \uXXXX escape of a UTF-16 surrogate, or a raw one in a str: either may leave a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_ID_SIZES = {"traceId": _TRACE_ID_BYTES, "spanId": _SPAN_ID_BYTES, "parentSpanId": _SPAN_ID_BYTES}
_SNAKE = {"traceId": "trace_id", "spanId": "span_id", "parentSpanId": "parent_span_id"}


def encode(signal: Signal, message: Message) -> str:
    """One OTLP/JSON line (no trailing newline) for an export request of ``signal``."""
    data = json_format.MessageToDict(message, use_integers_for_enums=True)
    _ENCODE_FIXUPS[signal](data)
    # allow_nan=False is safe: json_format already writes NaN and infinities as strings.
    line = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if _LINE_BREAKS.search(line):
        # Valid raw in JSON strings, but line readers such as str.splitlines() break
        # lines there; escaped, one request stays one line for every reader.
        line = _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", line)
    return line


def decode(signal: Signal, text: str | bytes) -> Message:
    """The export request of ``signal`` in ``text``; MalformedPayload when it is not one."""
    what = f"{signal.value} request"
    try:
        # OTLP/JSON is UTF-8; json.loads alone would also guess UTF-16 and UTF-32 from bytes.
        text = text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        if _SURROGATE_ESCAPE.search(text):
            # "\ud800" is valid JSON but no Unicode text: protobuf strings (and field names) cannot hold it.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"malformed OTLP/JSON {what}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except UnicodeEncodeError:
        raise MalformedPayload(f"malformed OTLP/JSON {what}: a lone UTF-16 surrogate is not text") from None
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"malformed OTLP/JSON {what}: not JSON ({exc})") from None
    except _Refused as exc:
        key = _key_before(text, _CONSTANT_AFTER_KEY) if isinstance(exc, _Constant) else ""
        raise MalformedPayload(f"malformed OTLP/JSON {what}: {key}{exc}") from None
    except RecursionError:
        raise MalformedPayload(f"malformed OTLP/JSON {what}: nested too deeply") from None
    except ValueError:
        # json raises a plain ValueError for an integer past sys.get_int_max_str_digits().
        key = _key_before(text, _LONG_INT)
        raise MalformedPayload(f"malformed OTLP/JSON {what}: {key}an integer of more than "
                               f"{sys.get_int_max_str_digits()} digits") from None
    if not isinstance(data, dict):
        raise MalformedPayload(f"malformed OTLP/JSON {what}: expected an object, got {type(data).__name__}")
    message = signal.request_type()
    try:
        _DECODE_FIXUPS[signal](data)
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (_BadId, _Refused) as exc:
        raise MalformedPayload(f"malformed OTLP/JSON {what}: {exc}") from None
    except json_format.ParseError as exc:
        raise MalformedPayload(f"malformed OTLP/JSON {what}: {exc}") from None
    except RecursionError:
        raise MalformedPayload(f"malformed OTLP/JSON {what}: nested too deeply") from None
    except (OverflowError, ValueError, TypeError) as exc:
        # json_format lets these through for numbers it cannot convert (an enum given as 1e309).
        raise MalformedPayload(f"malformed OTLP/JSON {what}: {type(exc).__name__}: {exc}") from None
    return message


class _Refused(ValueError):
    pass


class _Constant(_Refused):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Refused(f"key {dup[:80]!r} appears twice in one object")
    return obj


_CONSTANT_AFTER_KEY = re.compile(r'"((?:[^"\\]|\\.){0,200})"\s*:\s*(?:-?Infinity|NaN)\b')
_LONG_INT = re.compile(r'"((?:[^"\\]|\\.){0,200})"\s*:\s*-?\d{4301}')


def _no_constant(name: str) -> Any:
    raise _Constant(f"{name} is not a JSON value (write a special double as the string \"{name}\")")


def _key_before(text: str, pattern: re.Pattern[str]) -> str:
    match = pattern.search(text)
    return f"{match.group(1)!r}: " if match else ""


# --- encode: json_format's dict -> pdata's ------------------------------------


def _hex_ids(obj: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = obj.get(key)
        if value is not None:
            raw = base64.b64decode(value)
            if any(raw):
                obj[key] = raw.hex()
            else:
                del obj[key]  # pdata: an all-zero id is no id, and no id is not written


def _enc_value(value: dict[str, Any]) -> None:
    kvlist = value.get("kvlistValue")
    if kvlist is not None:
        _enc_attrs(kvlist.get("values"))
        return
    array = value.get("arrayValue")
    if array is not None:
        for item in array.get("values", ()):
            _enc_value(item)


def _enc_attrs(kvs: list[dict[str, Any]] | None) -> None:
    for kv in kvs or ():
        value = kv.get("value")
        if value is None:
            kv["value"] = {}
        else:
            _enc_value(value)


def _enc_resource(holder: dict[str, Any]) -> None:
    resource = holder.setdefault("resource", {})
    _enc_attrs(resource.get("attributes"))


def _enc_scope(holder: dict[str, Any]) -> None:
    scope = holder.setdefault("scope", {})
    _enc_attrs(scope.get("attributes"))


def _enc_traces(data: dict[str, Any]) -> None:
    for rs in data.get("resourceSpans", ()):
        _enc_resource(rs)
        for ss in rs.get("scopeSpans", ()):
            _enc_scope(ss)
            for span in ss.get("spans", ()):
                _hex_ids(span, "traceId", "spanId", "parentSpanId")
                span.setdefault("status", {})
                _enc_attrs(span.get("attributes"))
                for event in span.get("events", ()):
                    _enc_attrs(event.get("attributes"))
                for link in span.get("links", ()):
                    _hex_ids(link, "traceId", "spanId")
                    _enc_attrs(link.get("attributes"))


def _enc_points(points: list[dict[str, Any]], *, exponential: bool = False) -> None:
    for point in points:
        _enc_attrs(point.get("attributes"))
        for exemplar in point.get("exemplars", ()):
            _hex_ids(exemplar, "traceId", "spanId")
            _enc_attrs(exemplar.get("filteredAttributes"))
        if exponential:
            point.setdefault("positive", {})
            point.setdefault("negative", {})


def _enc_metrics(data: dict[str, Any]) -> None:
    for rm in data.get("resourceMetrics", ()):
        _enc_resource(rm)
        for sm in rm.get("scopeMetrics", ()):
            _enc_scope(sm)
            for metric in sm.get("metrics", ()):
                _enc_attrs(metric.get("metadata"))
                for kind in ("gauge", "sum", "histogram", "summary"):
                    if kind in metric:
                        _enc_points(metric[kind].get("dataPoints", ()))
                if "exponentialHistogram" in metric:
                    _enc_points(metric["exponentialHistogram"].get("dataPoints", ()), exponential=True)


def _enc_logs(data: dict[str, Any]) -> None:
    for rl in data.get("resourceLogs", ()):
        _enc_resource(rl)
        for sl in rl.get("scopeLogs", ()):
            _enc_scope(sl)
            for record in sl.get("logRecords", ()):
                _hex_ids(record, "traceId", "spanId")
                body = record.get("body")
                if body is None:
                    record["body"] = {}
                else:
                    _enc_value(body)
                _enc_attrs(record.get("attributes"))


_ENCODE_FIXUPS: dict[Signal, Callable[[dict[str, Any]], None]] = {
    Signal.TRACES: _enc_traces, Signal.METRICS: _enc_metrics, Signal.LOGS: _enc_logs,
}


# --- decode: OTLP/JSON ids -> json_format's base64 ------------------------------
# Only the ids need rewriting. The walk accepts camelCase and snake_case keys
# (json_format does) and leaves any shape it does not expect to ParseDict,
# which reports it with the field's name.


class _BadId(ValueError):
    pass


def _items(obj: dict[str, Any], camel: str, snake: str) -> list[dict[str, Any]]:
    value = obj.get(camel, obj.get(snake))
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _child(obj: dict[str, Any], camel: str, snake: str | None = None) -> dict[str, Any] | None:
    value = obj.get(camel, obj.get(snake) if snake else None)
    return value if isinstance(value, dict) else None


def _b64_ids(obj: dict[str, Any], where: str, *keys: str) -> None:
    for camel in keys:
        for key in (camel, _SNAKE[camel]):
            value = obj.get(key)
            if value is None:
                continue
            size = _ID_SIZES[camel]
            if not isinstance(value, str):
                raise _BadId(f"{where}.{key}: expected a hex string, got {type(value).__name__}")
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raw = None
            if raw is None or len(raw) not in (0, size):
                raise _BadId(f"{where}.{key}: {value[:80]!r} is not {2 * size} hex digits")
            if not any(raw):
                raw = b""  # pdata: an all-zero id is no id
            obj[key] = base64.b64encode(raw).decode("ascii")


def _check_enum(obj: dict[str, Any], where: str, camel: str, snake: str) -> None:
    """An enum is an integer or a string (a name); json_format would take 2.5 as 2 and true as 1,
    and skip a non-finite number silently."""
    for key in (camel, snake):
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, bool):
            ok = False
        elif isinstance(value, int):
            ok = True
        elif isinstance(value, float):
            ok = math.isfinite(value) and value.is_integer()
        elif isinstance(value, str):
            ok = True  # an unknown name is skipped like an unknown key (OTLP/JSON forward compatibility)
        else:
            ok = False
        if not ok:
            raise _Refused(f"{where}.{key}: {str(value)[:80]} is not an enum value (an integer or a name)")


def _dec_traces(data: dict[str, Any]) -> None:
    for i, rs in enumerate(_items(data, "resourceSpans", "resource_spans")):
        for j, ss in enumerate(_items(rs, "scopeSpans", "scope_spans")):
            for k, span in enumerate(_items(ss, "spans", "spans")):
                where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                _b64_ids(span, where, "traceId", "spanId", "parentSpanId")
                _check_enum(span, where, "kind", "kind")
                status = _child(span, "status")
                if status is not None:
                    _check_enum(status, f"{where}.status", "code", "code")
                for n, link in enumerate(_items(span, "links", "links")):
                    _b64_ids(link, f"{where}.links[{n}]", "traceId", "spanId")


def _dec_metrics(data: dict[str, Any]) -> None:
    kinds = (("gauge", None), ("sum", None), ("histogram", None),
             ("exponentialHistogram", "exponential_histogram"), ("summary", None))
    for i, rm in enumerate(_items(data, "resourceMetrics", "resource_metrics")):
        for j, sm in enumerate(_items(rm, "scopeMetrics", "scope_metrics")):
            for k, metric in enumerate(_items(sm, "metrics", "metrics")):
                for camel, snake in kinds:
                    body = _child(metric, camel, snake)
                    if body is None:
                        continue
                    _check_enum(body, f"resourceMetrics[{i}].scopeMetrics[{j}].metrics[{k}].{camel}",
                                "aggregationTemporality", "aggregation_temporality")
                    for p, point in enumerate(_items(body, "dataPoints", "data_points")):
                        where = f"resourceMetrics[{i}].scopeMetrics[{j}].metrics[{k}].{camel}.dataPoints[{p}]"
                        for e, exemplar in enumerate(_items(point, "exemplars", "exemplars")):
                            _b64_ids(exemplar, f"{where}.exemplars[{e}]", "traceId", "spanId")


def _dec_logs(data: dict[str, Any]) -> None:
    for i, rl in enumerate(_items(data, "resourceLogs", "resource_logs")):
        for j, sl in enumerate(_items(rl, "scopeLogs", "scope_logs")):
            for k, record in enumerate(_items(sl, "logRecords", "log_records")):
                where = f"resourceLogs[{i}].scopeLogs[{j}].logRecords[{k}]"
                _b64_ids(record, where, "traceId", "spanId")
                _check_enum(record, where, "severityNumber", "severity_number")


_DECODE_FIXUPS: dict[Signal, Callable[[dict[str, Any]], None]] = {
    Signal.TRACES: _dec_traces, Signal.METRICS: _dec_metrics, Signal.LOGS: _dec_logs,
}

__all__ = ["decode", "encode"]
