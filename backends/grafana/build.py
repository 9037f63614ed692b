"""Write the dashboards' JSON from their code.

    .venv/bin/python -m backends.grafana.build          # (re)write backends/grafana/dashboards/json/*.json
    .venv/bin/python -m backends.grafana.build --check  # exit 1 if a file differs from what the code builds

Grafana's file provider (provisioning/dashboards/dashboards.yaml) loads the
written files; they are committed so that a deployment needs no Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from backends.grafana.dashboards import (
    crosssell,
    divan,
    ingest,
    outbound,
    pipeline,
    sessions,
)

OUT = Path(__file__).resolve().parent / "dashboards" / "json"
DASHBOARDS = {"whatsapp-ingest": ingest, "whatsapp-sessions": sessions, "divan": divan, "pipeline": pipeline,
              "whatsapp-outbound": outbound, "crosssell": crosssell}


def render() -> dict[str, str]:
    """File name → JSON text, for every dashboard."""
    return {f"{name}.json": json.dumps(module.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
            for name, module in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(prog="python -m backends.grafana.build", description=__doc__.split("\n\n")[0])
    args.add_argument("--check", action="store_true", help="compare instead of writing")
    check = args.parse_args(argv).check
    files = render()
    if check:
        stale = [n for n, text in files.items() if not (OUT / n).exists() or (OUT / n).read_text() != text]
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in files)
        for name in stale + extra:
            print(f"{OUT / name}: differs from the code (run python -m backends.grafana.build)", file=sys.stderr)
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
