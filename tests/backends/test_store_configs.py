"""The Collector's backends overlay and the Tempo and Loki configs that compose
and k8s run. Tempo and Loki cannot run here, so their configs are checked for
structure: the keys their single binaries read, the ports the overlay's
defaults point at, and what OTLP ingestion into Loki needs. The overlay is
checked by the real bin/otelcol (``otelcol validate``) and for its delivery
settings: a persistent queue of its own per backend exporter, retries without
a time limit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.pipeline import BACKENDS, GATEWAY
from tests.support.procs import REPO

TEMPO = REPO / "backends" / "tempo" / "tempo.yaml"
LOKI = REPO / "backends" / "loki" / "loki.yaml"

# Top-level blocks of Tempo 2.x's and Loki 3.x's configs (an unknown one stops either at startup).
TEMPO_KEYS = {"stream_over_http_enabled", "server", "distributor", "ingester", "compactor", "query_frontend",
              "querier", "metrics_generator", "storage", "overrides", "memberlist", "usage_report", "target",
              "multitenancy_enabled"}
LOKI_KEYS = {"auth_enabled", "server", "common", "schema_config", "limits_config", "compactor", "ruler",
             "analytics", "ingester", "querier", "query_range", "storage_config", "frontend", "memberlist",
             "pattern_ingester", "target"}


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _env_default(value: str) -> str:
    m = re.fullmatch(r"\$\{env:(\w+):-(.*)\}", value)
    assert m, f"{value!r} is not an ${{env:NAME:-default}}"
    return m.group(2)


def test_the_overlay_merges_with_the_gateway_in_the_real_collector(otelcol: str) -> None:
    res = subprocess.run([otelcol, "validate", f"--config={GATEWAY}", f"--config={BACKENDS}"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_each_backend_exporter_has_a_persistent_queue_of_its_own_and_never_gives_up() -> None:
    overlay = _load(BACKENDS)
    gateway = _load(GATEWAY)
    exporters = overlay["exporters"]
    assert set(exporters) == {"otlp/tempo", "otlphttp/loki"}
    for name, cfg in exporters.items():
        queue = cfg["sending_queue"]
        assert queue["enabled"] is True, name
        assert queue["storage"] in gateway["extensions"] and queue["storage"] in gateway["service"]["extensions"]
        assert cfg["retry_on_failure"]["enabled"] is True and cfg["retry_on_failure"]["max_elapsed_time"] == 0
    pipelines = overlay["service"]["pipelines"]
    # Pipelines of their own beside traces/out and logs/out, so the datadog overlay's exporter lists still apply.
    assert not set(pipelines) & set(gateway["service"]["pipelines"])
    assert pipelines["traces/tempo"] == {"receivers": ["otlp/processed"], "exporters": ["otlp/tempo"]}
    assert pipelines["logs/loki"] == {"receivers": ["otlp/processed"], "exporters": ["otlphttp/loki"]}


def test_tempo_listens_where_the_overlay_sends_by_default() -> None:
    tempo = _load(TEMPO)
    assert set(tempo) <= TEMPO_KEYS, set(tempo) - TEMPO_KEYS
    host, port = _env_default(_load(BACKENDS)["exporters"]["otlp/tempo"]["endpoint"]).split(":")
    assert host == "tempo"
    grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc == f"0.0.0.0:{port}"
    assert tempo["server"]["http_listen_port"] == 3200  # where Grafana's Tempo datasource points
    assert tempo["storage"]["trace"]["backend"] in {"local", "s3", "gcs", "azure"}
    # The service map needs the service-graphs processor of the metrics generator.
    assert "service-graphs" in tempo["overrides"]["defaults"]["metrics_generator"]["processors"]


def test_loki_takes_otlp_where_the_overlay_sends_by_default() -> None:
    loki = _load(LOKI)
    assert set(loki) <= LOKI_KEYS, set(loki) - LOKI_KEYS
    endpoint = _env_default(_load(BACKENDS)["exporters"]["otlphttp/loki"]["endpoint"])
    m = re.fullmatch(r"http://loki:(\d+)/otlp", endpoint)
    assert m, endpoint  # the exporter appends /v1/logs: Loki's native OTLP endpoint
    assert loki["server"]["http_listen_port"] == int(m.group(1))
    # Loki keeps a record's trace_id and span_id as structured metadata, which needs tsdb and schema v13.
    assert loki["limits_config"]["allow_structured_metadata"] is True
    latest = loki["schema_config"]["configs"][-1]
    assert latest["store"] == "tsdb" and latest["schema"] == "v13"
    labels = [a for c in loki["limits_config"]["otlp_config"]["resource_attributes"]["attributes_config"]
              if c["action"] == "index_label" for a in c["attributes"]]
    assert "service.name" in labels and not {"trace_id", "span_id"} & set(labels)  # ids never become labels


def test_every_variable_in_the_store_configs_has_a_default() -> None:
    for path in (TEMPO, LOKI):
        for var in re.findall(r"\$\{([^}]*)\}", path.read_text()):
            assert ":-" in var, f"{path.name}: ${{{var}}} has no default"


def test_jaeger_sets_every_port_away_from_the_collectors() -> None:
    """Jaeger v2 is a Collector too: any port it is not given defaults onto one of otelcol's."""
    jaeger = _load(REPO / "backends" / "tempo" / "jaeger.yaml")
    gateway_ports = set(re.findall(r":-[\d.]*:(\d+)\}", GATEWAY.read_text())) | {"8888"}
    endpoints = [jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
                 jaeger["extensions"]["jaeger_query"]["http"]["endpoint"],
                 jaeger["extensions"]["jaeger_query"]["grpc"]["endpoint"]]
    assert list(jaeger["receivers"]["otlp"]["protocols"]) == ["grpc"]  # no OTLP/HTTP on a default :4318
    ports = {_env_default(e).rsplit(":", 1)[1] for e in endpoints}
    assert len(ports) == 3 and not ports & gateway_ports, (ports, gateway_ports)
    assert jaeger["service"]["telemetry"]["metrics"]["level"] == "none"  # no self-metrics on :8888
    assert jaeger["extensions"]["jaeger_query"]["enable_tracing"] is False
