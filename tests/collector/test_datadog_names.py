"""The datadog overlay's renaming, through the real bin/otelcol: the ingest
service's totals leave the Datadog path as ``pricebot.whatsapp.<total>``
gauges holding the values its ``/metrics`` reports, while Prometheus keeps
``pricebot_whatsapp_<total>_total``.

bin/otelcol has no datadog exporter (it has its own build, which this machine
cannot fetch), so a file exporter stands in for it under the same pipelines;
everything else is the overlay as shipped.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from services.drive import IngestDriver
from services.ingest.telemetry import TOTALS
from tests.support.pipeline import collector_pipeline
from tests.support.procs import REPO, Proc, free_port, wait_for_port

pytestmark = pytest.mark.e2e

OVERLAY = REPO / "collector" / "overlays" / "datadog.yaml"


def _stand_in_overlay(tmp: Path) -> tuple[Path, Path]:
    data = yaml.safe_load(OVERLAY.read_text())
    out = tmp / "datadog.jsonl"
    data["exporters"] = {"file/datadog": {"path": str(out), "flush_interval": "100ms"}}
    for pipeline in data["service"]["pipelines"].values():
        pipeline["exporters"] = ["file/datadog" if e == "datadog" else e for e in pipeline["exporters"]]
    path = tmp / "datadog-stand-in.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, out


def _latest_gauges(path: Path) -> dict[str, tuple[str, float]]:
    """name -> (data kind, sum over its series of each series' newest value), from what the stand-in wrote."""
    latest: dict[tuple[str, str], tuple[int, str, float]] = {}
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        for rm in json.loads(line).get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    kind = next(k for k in ("gauge", "sum", "histogram", "exponentialHistogram", "summary") if k in m)
                    for dp in m[kind].get("dataPoints", []):
                        series = (m["name"], json.dumps(dp.get("attributes", []), sort_keys=True))
                        ts = int(dp.get("timeUnixNano", 0))
                        value = float(dp.get("asInt", dp.get("asDouble", 0)))
                        if series not in latest or ts >= latest[series][0]:
                            latest[series] = (ts, kind, value)
    out: dict[str, tuple[str, float]] = {}
    for (name, _), (_, kind, value) in latest.items():
        out[name] = (kind, out.get(name, (kind, 0.0))[1] + value)
    return out


def test_ingest_totals_reach_the_datadog_path_as_pricebot_gauges(tmp_path):
    overlay, out = _stand_in_overlay(tmp_path)
    token, hmac_secret, admin = secrets.token_hex(16), secrets.token_hex(16), secrets.token_hex(16)
    with collector_pipeline(tmp_path, overlays=[overlay]) as pipeline:
        port = free_port()
        env = {"WHATSAPP_INGEST_TOKEN": token, "WHATSAPP_HMAC_SECRET": hmac_secret, "OBS_ADMIN_TOKEN": admin,
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{pipeline.otlp_grpc_endpoint}",
               "OTEL_METRIC_EXPORT_INTERVAL": "500", "OBS_LOG_JSON_STDOUT": "false"}
        ingest = Proc([sys.executable, "-m", "uvicorn", "--factory", "services.ingest.app:create_app",
                       "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                      log=tmp_path / "ingest.log", cwd=REPO, env=env)
        try:
            wait_for_port(port, timeout=60, proc=ingest.popen)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                driver = IngestDriver(client, token=token, hmac_secret=hmac_secret)
                for _ in range(3):
                    driver.round(burst=0)
                ops = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).json()
                totals = ops["whatsapp"]["totals"]
                # No new traffic now: the exported gauges must settle on exactly these values.
                expected = {f"pricebot.whatsapp.{t}": float(totals[t]) for t in TOTALS if t in totals}
                assert expected and any(v > 0 for v in expected.values())
                deadline = time.monotonic() + 30
                while True:
                    got = _latest_gauges(out)
                    if all(got.get(n, ("", -1.0))[1] == v for n, v in expected.items()) or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
        finally:
            ingest.stop()
        for name, value in expected.items():
            assert name in got, f"{name} missing from the Datadog path; got {sorted(got)[:20]}"
            assert got[name] == ("gauge", value), (name, got[name], value)
        # The collectors' series: one open, one stuck connecting; three batches accepted in all.
        assert got["pricebot.whatsapp.collector_connected"] == ("gauge", 1.0)
        assert got["pricebot.whatsapp.collector_batches_success"] == ("gauge", 3.0)
        assert not [n for n in got if n.startswith("pricebot_whatsapp_")], "a series kept its Prometheus name"
        # Prometheus is not renamed: its own pipeline still exports the counters.
        scrape = pipeline.scrape()
        assert "pricebot_whatsapp_created_total" in scrape
        assert "pricebot.whatsapp" not in scrape and "pricebot_whatsapp_created{" not in scrape
