"""Foundation benchmark: the parse+serialise floor, the processors passing
data straight through over gRPC loopback, and otelcol doing the same.

All three carry the same 512-span request, uncompressed, to the same next hop
(an otelcol that acknowledges and discards), so their ratios compare like
with like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import best_of, parse_serialise_floor, print_table, ratio, span_request, write_results
from bench.loopback import drive, otelcol_passthrough, otelcol_sink, otelproc
from processors.configs import __file__ as _configs_init

PASSTHROUGH = (Path(_configs_init).parent / "passthrough.yaml").read_text()
SPANS = 512


def main(seconds: float = 3.0) -> dict[str, Any]:
    raw = span_request(SPANS).SerializeToString()
    floor = best_of([parse_serialise_floor(raw, seconds=1.0) for _ in range(3)])
    with otelcol_sink() as sink:
        with otelproc(PASSTHROUGH, sink, env={"OTELPROC_COMPRESSION": "none"}) as proc_port:
            procs = drive(proc_port, raw, SPANS, seconds=seconds, name="processors passthrough (gRPC loopback)")
        with otelcol_passthrough(sink) as col_port:
            col = drive(col_port, raw, SPANS, seconds=seconds, name="otelcol passthrough (gRPC loopback)")
    rows = [floor, procs, col]
    result = {
        "request": {"spans": SPANS, "bytes": len(raw)},
        "rates": [r.summary() for r in rows],
        "ratios": {
            "processors_passthrough / floor": ratio(procs.items_per_s, floor.items_per_s),
            "otelcol_passthrough / floor": ratio(col.items_per_s, floor.items_per_s),
            "processors_passthrough / otelcol_passthrough": ratio(procs.items_per_s, col.items_per_s),
        },
    }
    print_table(f"core: {SPANS}-span request ({len(raw) // 1024} KiB)", rows, result["ratios"])
    path = write_results("core", result)
    print(f"  -> {path}")
    return result


if __name__ == "__main__":
    main()
