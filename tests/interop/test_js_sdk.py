"""The OpenTelemetry JS SDK (0.223.0, js/package-lock.json) through both setups
over gRPC, HTTP/protobuf and HTTP/JSON: what its exporters handed to the wire
(recorded by js/send.js) arrives field by field, up to the configured changes."""

from __future__ import annotations

import subprocess

import pytest

from processors.api import Signal
from tests.interop.support import (
    HERE,
    Setup,
    assert_same,
    decode_lines,
    dropped_trace_id,
    flatten,
    kept_trace_id,
    of_service,
)
from tests.support.procs import require_tool

pytestmark = pytest.mark.e2e

JS = HERE / "js"
# What send.js emits: 3 spans, 6 log records (the INFO of the dropped trace is sampled away),
# 2 counter points and 1 histogram point.
SENT = {Signal.TRACES: 3, Signal.LOGS: 6, Signal.METRICS: 3}


def _node() -> str:
    node = require_tool("node")
    if not (JS / "node_modules" / "@opentelemetry" / "sdk-node").is_dir():
        pytest.fail("tests/interop/js/node_modules is missing: `make interop-js` (part of `make test`) runs npm ci")
    return node


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_js_sdk_arrives_field_by_field(setup: Setup, protocol: str, tmp_path) -> None:
    node = _node()
    run = f"js-{protocol.replace('/', '-')}"
    out = tmp_path / "sent.jsonl"
    endpoint = f"http://{setup.grpc_endpoint}" if protocol == "grpc" else setup.http_endpoint
    # Unique trace ids per run: the setup is shared by the module's tests.
    n = ["grpc", "http/protobuf", "http/json"].index(protocol) + (3 if setup.name == "standalone" else 0)
    done = subprocess.run([node, "send.js", "--protocol", protocol, "--endpoint", endpoint, "--out", str(out),
                           "--trace-ids", f"{kept_trace_id(n)},{dropped_trace_id(n)}", "--run", run],
                          cwd=JS, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"send.js failed ({done.returncode}):\n{done.stderr[-3000:]}"
    sent = decode_lines(out)
    for signal, count in SENT.items():
        items = [i for i in flatten(signal, sent[signal])
                 if i["resource"]["attributes"]["interop.run"]["stringValue"] == run]
        assert len(items) == count, f"{signal.value}: send.js recorded {len(items)} items, not {count}"

        def mine(reqs, signal=signal):
            return [i for i in of_service(flatten(signal, reqs), "interop-js")
                    if i["resource"]["attributes"].get("interop.run", {}).get("stringValue") == run]

        expected_count = count - (1 if signal is Signal.LOGS else 0)
        arrived = mine(setup.wait_for(signal, lambda reqs, n=expected_count: len(mine(reqs)) >= n))
        assert_same(signal, items, arrived, where=f"{setup.name} {protocol}")
