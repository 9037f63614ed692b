"""telemetrygen (v0.161.0, bin/telemetrygen) through both setups over gRPC and
HTTP, with ``--rate`` set: traces with child spans, links and an error status;
logs traced (kept and sampled away) and untraced; a gauge, delta and
cumulative sums, a histogram with exemplars and an exponential histogram.

telemetrygen's ids and values are random per run, so what it sent is recorded
by a reference bin/otelcol in front of the setup (configs/reference-otelcol.yaml:
the file exporter, and the same data forwarded on the protocol it came in on),
and the setup's sinks must hold exactly that, up to the configured changes."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from processors.api import Signal
from tests.interop.support import (
    HERE,
    Setup,
    assert_same,
    dropped_trace_id,
    flatten,
    kept_trace_id,
    of_service,
)
from tests.support.pipeline import read_sink
from tests.support.procs import REPO, Proc, free_port, require_tool, wait_for_port
from tests.support.servers import otelcol_path

pytestmark = pytest.mark.e2e

TELEMETRYGEN = REPO / "bin" / "telemetrygen"
ATTRS = ['user.email="alice@example.org"', 'user.password="hunter2"', 'str.unicode="héllo ✓ 日本語"',
         "int.big=4611686018427387904", "flag=true"]
COUNT = 5  # items per run; small, as each run is sent and compared whole


@dataclass
class Reference:
    grpc_endpoint: str
    http_endpoint: str
    sinks: Path

    def items(self, signal: Signal, service: str, count: int, timeout: float = 20.0) -> list[dict]:
        """The service's items in the reference's sink, once ``count`` are there.

        Its file exporter flushes each second."""
        deadline = time.monotonic() + timeout
        while True:
            items = of_service(flatten(signal, read_sink(self.sinks / f"{signal.value}.jsonl", signal)), service)
            if len(items) >= count or time.monotonic() > deadline:
                return items
            time.sleep(0.2)


@pytest.fixture(scope="module")
def reference(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    tmp = tmp_path_factory.mktemp(f"reference-{setup.name}")
    grpc_port, http_port = free_port(), free_port()
    env = {"REF_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}", "REF_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
           "REF_SINK_DIR": str(tmp / "sinks"), "REF_FORWARD_GRPC": setup.grpc_endpoint,
           "REF_FORWARD_HTTP": setup.http_endpoint}
    (tmp / "sinks").mkdir()
    proc = Proc([otelcol_path(), f"--config={HERE / 'configs' / 'reference-otelcol.yaml'}"], log=tmp / "otelcol.log",
                env=env)
    try:
        for port in (grpc_port, http_port):
            try:
                wait_for_port(port, timeout=30, proc=proc.popen)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"reference otelcol did not start: {exc}\n{proc.output()[-3000:]}") from None
        yield Reference(f"127.0.0.1:{grpc_port}", f"127.0.0.1:{http_port}", tmp / "sinks")
    finally:
        proc.stop(timeout=20)


def _runs(protocol: str, n: int) -> dict[str, tuple[Signal, list[str]]]:
    """Each telemetrygen run: its service name → (signal, arguments)."""
    kept, dropped = kept_trace_id(n), dropped_trace_id(n)
    runs: dict[str, tuple[Signal, list[str]]] = {
        "traces": (Signal.TRACES, ["traces", "--traces", str(COUNT), "--child-spans", "2", "--span-links", "1",
                                   "--status-code", "Error"]),
        "logs-kept": (Signal.LOGS, ["logs", "--logs", str(COUNT), "--trace-id", kept, "--span-id", "0123456789abcdef",
                                    "--body", "kept ✓"]),
        "logs-dropped": (Signal.LOGS, ["logs", "--logs", str(COUNT), "--trace-id", dropped, "--body", "sampled away"]),
        "logs-untraced-error": (Signal.LOGS, ["logs", "--logs", str(COUNT), "--severity-number", "17",
                                              "--severity-text", "Error", "--body", "untraced failure"]),
        "gauge": (Signal.METRICS, ["metrics", "--metric-type", "Gauge"]),
        "sum-delta": (Signal.METRICS, ["metrics", "--metric-type", "Sum", "--aggregation-temporality", "delta"]),
        "sum-cumulative": (Signal.METRICS, ["metrics", "--metric-type", "Sum",
                                            "--aggregation-temporality", "cumulative"]),
        "histogram": (Signal.METRICS, ["metrics", "--metric-type", "Histogram", "--aggregation-temporality", "delta",
                                       "--trace-id", kept, "--span-id", "0123456789abcdef"]),
        "exponential-histogram": (Signal.METRICS, ["metrics", "--metric-type", "ExponentialHistogram",
                                                   "--aggregation-temporality", "cumulative"]),
    }
    for name, (signal, args) in runs.items():
        if signal is Signal.METRICS:
            args += ["--metrics", str(COUNT), "--otlp-metric-name", f"tg.{name}"]
        for attr in ATTRS:
            args += ["--telemetry-attributes", attr]
        args += ["--otlp-attributes", 'deployment.environment.name="interop ✓"', "--service", f"tg-{protocol}-{name}",
                 "--rate", "100", "--otlp-insecure"]
    return runs


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_telemetrygen_arrives_field_by_field(setup: Setup, reference: Reference, protocol: str, tmp_path) -> None:
    tg = require_tool(str(TELEMETRYGEN))
    n = 20 + ["grpc", "http"].index(protocol)
    runs = _runs(protocol, n)
    endpoint = ["--otlp-endpoint", reference.grpc_endpoint] if protocol == "grpc" else \
        ["--otlp-endpoint", reference.http_endpoint, "--otlp-http"]
    with contextlib.ExitStack() as stack:
        procs = {name: subprocess.Popen([tg, *args, *endpoint], stdout=subprocess.DEVNULL,
                                        stderr=stack.enter_context(open(tmp_path / f"{name}.log", "wb")))
                 for name, (_, args) in runs.items()}
        for name, p in procs.items():
            rc = p.wait(timeout=60)
            assert rc == 0, f"telemetrygen {name} failed:\n{(tmp_path / f'{name}.log').read_text()[-2000:]}"

    for name, (signal, _) in runs.items():
        service = f"tg-{protocol}-{name}"
        per_run = 3 * COUNT if name == "traces" else COUNT  # a root and two children per trace
        sent = reference.items(signal, service, per_run)
        assert len(sent) == per_run, f"{name}: the reference recorded {len(sent)} items, not {per_run}"
        want = 0 if name == "logs-dropped" else per_run
        if name == "logs-dropped":
            # Nothing of it may arrive. It was sent beside the other log runs: once those are in the
            # sink, and a file-exporter flush later, it would be too.
            for other in ("logs-kept", "logs-untraced-error"):
                setup.wait_for(signal, lambda reqs, o=f"tg-{protocol}-{other}": len(
                    of_service(flatten(Signal.LOGS, reqs), o)) >= COUNT)
            time.sleep(1.5)
        arrived = of_service(flatten(signal, setup.wait_for(
            signal, lambda reqs, s=service, w=want, sig=signal: len(of_service(flatten(sig, reqs), s)) >= w)), service)
        assert_same(signal, sent, arrived, where=f"{setup.name} telemetrygen {protocol} {name}")
