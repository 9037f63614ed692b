"""telemetrygen (bin/telemetrygen, `make telemetrygen`) as a second load source:
unthrottled traces from its Go SDK exporter through bin/otelcol alone, and
through bin/otelcol plus the processors (redaction, as in pipeline.yaml), to
the same sink Collector, which counts what it accepted. Rounds alternate
between the two paths, so the ratio is read within one run; the spread over
the rounds is printed beside it."""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from bench.common import Rate, median, print_table, ratio, write_results
from bench.loopback import (
    OTELCOL,
    REPO,
    free_port,
    otelcol_passthrough,
    otelproc,
    process,
)

TELEMETRYGEN = REPO / "bin" / "telemetrygen"
ROUNDS = 3
SECONDS = 3.0
_KEY = "bench-hmac-key-not-a-secret-0123"
_ACCEPTED = re.compile(r"^otelcol_receiver_accepted_spans(?:_total)?(?:\{[^}]*\})? (\S+)$", re.MULTILINE)

# The processors' traces pipeline: redaction with the detectors pipeline.yaml runs.
PROCESSORS = """
receivers:
  otlp: {grpc: {endpoint: "${env:OTELPROC_RECEIVER_ENDPOINT}"}}
processors:
  redaction:
    detectors: [email, phone, jwt, api_key, credit_card, iban, ip, geo]
    operator: mask
    operators: {email: hash, phone: hash}
    hash_key: ${env:REDACTION_HMAC_KEY}
exporters:
  otlp: {endpoint: "${env:OTELPROC_NEXT_HOP}", compression: none}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [redaction], exporters: [otlp]}
  telemetry:
    metrics: {address: "${env:OTELPROC_METRICS_ADDRESS}"}
"""


@contextlib.contextmanager
def counting_sink() -> Iterator[tuple[int, str]]:
    """A Collector that acknowledges and discards, and serves its accepted-span count."""
    port, metrics_port = free_port(), free_port()
    config = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}", max_recv_msg_size_mib: 64}}}}}}
exporters:
  debug: {{verbosity: basic}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
  telemetry:
    logs: {{level: warn}}
    metrics:
      level: normal
      readers: [{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {metrics_port}}}}}}}}}]
"""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(config)
    with process([str(OTELCOL), f"--config={f.name}"], port):
        yield port, f"http://127.0.0.1:{metrics_port}/metrics"


def accepted(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        return int(sum(float(v) for v in _ACCEPTED.findall(r.read().decode())))


def load(port: int, sink_url: str, name: str, seconds: float = SECONDS) -> Rate:
    """telemetrygen at full speed for ``seconds``; spans/s as the sink accepted them, until it settles."""
    before = accepted(sink_url)
    start = time.perf_counter()
    subprocess.run([str(TELEMETRYGEN), "traces", "--otlp-endpoint", f"127.0.0.1:{port}", "--otlp-insecure",
                    "--rate", "0", "--workers", "2", "--child-spans", "4", "--duration", f"{seconds}s",
                    "--telemetry-attributes", 'user.email="alice@example.org"'],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=seconds + 60)
    # What the hops still hold arrives after telemetrygen stops: count until nothing more comes.
    last, settled = accepted(sink_url), time.perf_counter()
    while time.perf_counter() - settled < 0.5:
        time.sleep(0.1)
        now = accepted(sink_url)
        if now != last:
            last, settled = now, time.perf_counter()
    return Rate(name, last - before, 1, settled - start)


def main() -> dict[str, Any]:
    if not TELEMETRYGEN.exists():
        raise RuntimeError("bin/telemetrygen missing: `make telemetrygen`")
    env = {"REDACTION_HMAC_KEY": _KEY}
    alone: list[Rate] = []
    both: list[Rate] = []
    with contextlib.ExitStack() as stack:
        sink, url = stack.enter_context(counting_sink())
        proc_port = stack.enter_context(otelproc(PROCESSORS, sink, env))
        via_processors = stack.enter_context(otelcol_passthrough(proc_port))
        direct = stack.enter_context(otelcol_passthrough(sink))
        load(direct, url, "warm-up", seconds=1.0)
        for i in range(ROUNDS):
            alone.append(load(direct, url, f"otelcol alone (round {i + 1})"))
            both.append(load(via_processors, url, f"otelcol + processors (round {i + 1})"))
    ratios = [ratio(b.items_per_s, a.items_per_s) for a, b in zip(alone, both, strict=True)]
    result = {
        "rates": [r.summary() for r in (*alone, *both)],
        "ratios": {"otelcol + processors / otelcol alone (median of rounds)": median(ratios)},
        "ratio_per_round": ratios,
        "ratio_spread": [min(ratios), max(ratios)],
    }
    print_table("telemetrygen traces (unthrottled, 2 workers, 5 spans per trace) to a counting sink",
                [*alone, *both], result["ratios"], width=44)
    print(f"  per round: {', '.join(f'{r:.3f}' for r in ratios)} (spread {min(ratios):.3f}–{max(ratios):.3f})")
    print(f"  -> {write_results('telemetrygen', result)}")
    return result


if __name__ == "__main__":
    main()
