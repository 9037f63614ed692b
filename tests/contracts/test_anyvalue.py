"""contracts.anyvalue against the conversions it replaced, copied here verbatim as the reference: the
prometheus exporter's label text and raw value, the log sampler's rule text and number, and the
session-health connector's scalar. Hypothesis draws nested AnyValues of every kind, edge floats included."""

from __future__ import annotations

import base64
import decimal
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from contracts import anyvalue

# --- the reference: each conversion as it was written in its component -----------------------------


def prometheus_value_text(value: Any) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _es6_float(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind in ("array_value", "kvlist_value"):
        return _go_json(prometheus_raw(value))
    return ""


def _es6_float(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if 1e-6 <= abs(f) < 1e21:
        return format(decimal.Decimal(repr(f)).normalize(), "f")
    mantissa, exponent = repr(f).split("e")
    exp = int(exponent)
    return f"{mantissa}e+{exp:02d}" if exp >= 0 else f"{mantissa}e-{-exp}"


def prometheus_raw(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [prometheus_raw(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: prometheus_raw(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind is None:
        return None
    return getattr(value, kind)


def _go_json(raw: Any) -> str:
    if isinstance(raw, dict):
        return "{" + ",".join(f"{_go_json(k)}:{_go_json(v)}" for k, v in sorted(raw.items())) + "}"
    if isinstance(raw, list):
        return "[" + ",".join(_go_json(v) for v in raw) + "]"
    if isinstance(raw, float):
        return _es6_float(raw) if math.isfinite(raw) else "null"
    if isinstance(raw, str):
        return json.dumps(raw, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return json.dumps(raw)


def sampling_value_text(value: Any) -> str | None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return str(value.double_value)
    return None


def sampling_number(value: Any) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "double_value":
        return value.double_value
    if kind == "int_value":
        return float(value.int_value)
    return None


def session_health_any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind in ("string_value", "int_value", "bool_value", "double_value"):
        return getattr(value, kind)
    return None


# --- values of every kind ----------------------------------------------------------------------------

_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -0.0, 1e-7, 1e-6, 1e21, 1e20, 1e16, 1.5, 100.0, 5e-324,
                                     1.7976931348623157e308]))
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["<&>", "\u2028\u2029", "\"q\"", "ü"])
_scalars = st.one_of(
    st.builds(lambda s: AnyValue(string_value=s), _text),
    st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
    st.builds(lambda i: AnyValue(int_value=i), st.integers(-(2 ** 63), 2 ** 63 - 1)),
    st.builds(lambda f: AnyValue(double_value=f), _floats),
    st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=8)),
    st.just(AnyValue()),
)
values = st.recursive(_scalars, lambda inner: st.one_of(
    st.builds(lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(inner, max_size=4)),
    st.builds(lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs])),
              st.lists(st.tuples(_text, inner), max_size=4)),
), max_leaves=12)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN to NaN, and -0.0 apart from 0.0, through lists and dicts."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None)
@given(values)
def test_each_helper_gives_what_its_component_computed(value):
    assert anyvalue.as_string(value) == prometheus_value_text(value)
    assert _same(anyvalue.to_python(value), prometheus_raw(value))
    assert anyvalue.scalar_text(value) == sampling_value_text(value)
    assert _same(anyvalue.number(value), sampling_number(value))
    assert _same(anyvalue.scalar(value), session_health_any_value(value))


def test_the_components_read_their_values_through_contracts():
    from processors.log_sampling import rules, sampler
    from processors.session_health import events
    from processors.standalone import prometheus_exporter

    assert prometheus_exporter.value_text is anyvalue.as_string
    assert rules.scalar_text is anyvalue.scalar_text
    assert sampler.number is anyvalue.number
    assert events.scalar is anyvalue.scalar
