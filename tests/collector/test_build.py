"""bin/otelcol is the real Collector built by ocb, and it accepts every config we ship."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.procs import REPO

SHIPPED = sorted((REPO / "collector").glob("*.yaml"))
SHIPPED = [p for p in SHIPPED if not p.name.startswith("builder-config")]
# Upstream renamed some types; the old names stay accepted as aliases.
ALIASES = {"otlp": "otlp_grpc", "loadbalancing": "load_balancing", "otlphttp": "otlp_http"}


def _components(otelcol: str) -> dict[str, set[str]]:
    out = subprocess.run([otelcol, "components"], capture_output=True, text=True, check=True).stdout
    data = yaml.safe_load(out)
    kinds = ("receivers", "processors", "exporters", "extensions")
    return {kind: {c["name"] for c in data.get(kind) or []} for kind in kinds}


def _types_used(config: Path) -> dict[str, set[str]]:
    data = yaml.safe_load(config.read_text())
    return {kind: {cid.split("/")[0] for cid in (data.get(kind) or {})}
            for kind in ("receivers", "processors", "exporters", "extensions")}


def test_manifest_pins_one_release_for_every_component():
    manifest = yaml.safe_load((REPO / "collector" / "builder-config.yaml").read_text())
    versions = {m["gomod"].split()[1] for kind in ("receivers", "processors", "exporters", "extensions")
                for m in manifest[kind]}
    assert len(versions) == 1, versions
    assert re.fullmatch(r"v0\.\d+\.0", versions.pop())


def test_components_lists_every_component_our_configs_use(otelcol):
    have = _components(otelcol)
    assert SHIPPED, "no collector configs found"
    for config in SHIPPED:
        for kind, types in _types_used(config).items():
            missing = {t for t in types if t not in have[kind] and ALIASES.get(t) not in have[kind]}
            assert not missing, f"{config.name}: {kind} {sorted(missing)} are not in bin/otelcol"


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_passes_otelcol_validate(otelcol, config, tmp_path):
    env = {"OTELCOL_QUEUE_DIR": str(tmp_path / "q"), "OTELCOL_SINK_DIR": str(tmp_path / "s"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([otelcol, "validate", f"--config={config}"], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr


def test_validate_rejects_a_broken_config(otelcol, tmp_path):
    """The check above can fail: an unknown exporter is refused."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "collector" / "gateway.yaml").read_text().replace("exporters: [file/traces]",
                                                                             "exporters: [nosuch/traces]"))
    res = subprocess.run([otelcol, "validate", f"--config={bad}"], capture_output=True, text=True)
    assert res.returncode != 0
    assert "nosuch" in res.stderr


def test_persistent_queue_is_accepted_on_the_loadbalancing_exporter():
    data = yaml.safe_load((REPO / "collector" / "gateway.yaml").read_text())
    for signal in ("traces", "metrics", "logs"):
        lb = data["exporters"][f"loadbalancing/{signal}"]
        assert lb["sending_queue"]["storage"] == "file_storage/processors"
        assert lb["retry_on_failure"]["max_elapsed_time"] == 0
    assert data["exporters"]["loadbalancing/traces"]["routing_key"] == "traceID"


def test_datadog_overlay_merges_onto_the_gateway(otelcol, tmp_path):
    """bin/otelcol has no datadog exporter (it has its own build); with a stand-in of the
    same id type, the overlay's pipelines merge onto gateway.yaml and validate."""
    overlay = (REPO / "collector" / "overlays" / "datadog.yaml").read_text()
    assert "${env:DD_API_KEY}" in overlay
    data = yaml.safe_load(overlay)
    data["exporters"] = {"debug/datadog": {"verbosity": "basic"}}
    for pipeline in data["service"]["pipelines"].values():
        pipeline["exporters"] = ["debug/datadog" if e == "datadog" else e for e in pipeline["exporters"]]
    stand_in = tmp_path / "datadog-stand-in.yaml"
    stand_in.write_text(yaml.safe_dump(data))
    env = {"OTELCOL_QUEUE_DIR": str(tmp_path / "q"), "OTELCOL_SINK_DIR": str(tmp_path / "s")}
    res = subprocess.run([otelcol, "validate", f"--config={REPO / 'collector' / 'gateway.yaml'}",
                          f"--config={stand_in}"], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
