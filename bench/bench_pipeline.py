"""The full pipeline hop over gRPC loopback: the processors running the
default traces pipeline (redaction) on a realistic mix (5 % of spans carry
PII), against the same processors passing data straight through and against
otelcol passing it straight through, all to the same next hop, in one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.bench_redaction import spans
from bench.common import print_table, ratio, write_results
from bench.loopback import drive, otelcol_passthrough, otelcol_sink, otelproc

CONFIGS = Path(__file__).resolve().parents[1] / "processors" / "configs"
SPANS = 512
_KEY = "bench-hmac-key-not-a-secret-0123"


def _traces_only(config: str) -> str:
    """pipeline.yaml with its connector off: the benchmark drives traces only."""
    return config.replace("    api:\n      endpoint: ${env:SESSION_HEALTH_API_ENDPOINT:-0.0.0.0:8890}",
                          "    api:\n      enabled: false\n      endpoint: 127.0.0.1:0")


def main(seconds: float = 3.0) -> dict[str, Any]:
    raw = spans(0.05)
    passthrough = (CONFIGS / "passthrough.yaml").read_text()
    pipeline = _traces_only((CONFIGS / "pipeline.yaml").read_text())
    env = {"OTELPROC_COMPRESSION": "none", "REDACTION_HMAC_KEY": _KEY, "SESSION_HEALTH_ADMIN_TOKEN": "bench"}
    with otelcol_sink() as sink:
        with otelcol_passthrough(sink) as port:
            col = drive(port, raw, SPANS, seconds=seconds, name="otelcol passthrough")
        with otelproc(passthrough, sink, env) as port:
            base = drive(port, raw, SPANS, seconds=seconds, name="processors passthrough")
        with otelproc(pipeline.replace("compression: gzip", "compression: none"), sink, env) as port:
            full = drive(port, raw, SPANS, seconds=seconds, name="processors: redaction (5 % PII)")
    rows = [col, base, full]
    result = {
        "rates": [r.summary() for r in rows],
        "ratios": {
            "redaction pipeline / processors passthrough": ratio(full.items_per_s, base.items_per_s),
            "redaction pipeline / otelcol passthrough": ratio(full.items_per_s, col.items_per_s),
        },
    }
    print_table(f"pipeline hop over gRPC loopback: {SPANS}-span requests, 5 % with PII", rows, result["ratios"],
                width=40)
    print(f"  -> {write_results('pipeline', result)}")
    return result


if __name__ == "__main__":
    main()
