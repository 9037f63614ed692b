"""OTLP ``AnyValue`` read as plain values: one set of helpers for every
component that compares, counts or prints an attribute.

- ``scalar``: a string, int, bool or double as Python; None for arrays, maps,
  bytes and empty values (what a rule or an event field can hold).
- ``scalar_text``: ``scalar`` as the text a configured value is compared with
  (``true``/``false`` for booleans, Python's ``str`` otherwise).
- ``number``: an int or double as a float; None for anything else.
- ``to_python``: the whole value, arrays and maps included, bytes as base64.
- ``as_string``: the value as the Collector prints it (pcommon ``Value.AsString``):
  Go's float formatting, and sorted-key JSON for arrays and maps.
"""

from __future__ import annotations

import base64
import decimal
import json
import math
from typing import Any

_SCALARS = ("string_value", "int_value", "bool_value", "double_value")


def scalar(value: Any) -> str | int | bool | float | None:
    """A scalar AnyValue as Python; None for arrays, maps, bytes and empty values."""
    kind = value.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(value, kind)
    return None


def scalar_text(value: Any) -> str | None:
    """The string form a configured value is compared with; None for values no config can name."""
    v = scalar(value)
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def number(value: Any) -> float | None:
    """An int or double AnyValue as a float; None for anything else."""
    kind = value.WhichOneof("value")
    if kind == "double_value":
        return value.double_value
    if kind == "int_value":
        return float(value.int_value)
    return None


def to_python(value: Any) -> Any:
    """The AnyValue as Python: lists, dicts, scalars, bytes as base64 text, None when empty."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [to_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: to_python(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind is None:
        return None
    return getattr(value, kind)


def as_string(value: Any) -> str:
    """An AnyValue as the Collector prints it (pcommon.Value.AsString); empty for an empty value."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return es6_float(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind in ("array_value", "kvlist_value"):
        return go_json(to_python(value))
    return ""


def es6_float(f: float) -> str:
    """Go's float formatting in pcommon (ES6 number to string): 1.5, 100, 1e-7, 1e+21."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if 1e-6 <= abs(f) < 1e21:
        return format(decimal.Decimal(repr(f)).normalize(), "f")
    mantissa, exponent = repr(f).split("e")  # repr uses an exponent below 1e-4 and from 1e16 on
    exp = int(exponent)
    return f"{mantissa}e+{exp:02d}" if exp >= 0 else f"{mantissa}e-{-exp}"


def go_json(raw: Any) -> str:
    """encoding/json without HTML escaping: sorted keys, ES6 floats."""
    if isinstance(raw, dict):
        return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in sorted(raw.items())) + "}"
    if isinstance(raw, list):
        return "[" + ",".join(go_json(v) for v in raw) + "]"
    if isinstance(raw, float):
        return es6_float(raw) if math.isfinite(raw) else "null"
    if isinstance(raw, str):
        return json.dumps(raw, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return json.dumps(raw)
