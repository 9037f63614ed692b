"""backends/grafana: the provisioning files validate against their schemas, the
dashboards are what their code builds and what the SDK's types read back, and
every datasource UID a dashboard or a correlation setting names exists."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from backends.grafana import build
from tests.backends.rules import known_metrics, load_rules, series_names
from tests.support.procs import REPO, require_tool

GRAFANA = REPO / "backends" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml"
SCHEMAS = GRAFANA / "schemas"
DASHBOARD_FILES = sorted(build.OUT.glob("*.json"))


def _datasources() -> dict[str, dict[str, Any]]:
    return {d["uid"]: d for d in yaml.safe_load(DATASOURCES.read_text())["datasources"]}


def dashboard_json() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in DASHBOARD_FILES}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # a collapsed row keeps its panels inside it
    return out


def _check_jsonschema(schema: Path, instance: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("check-jsonschema", str(REPO / ".venv" / "bin" / "check-jsonschema"))
    return subprocess.run([tool, "--schemafile", str(schema), str(instance)], check=False, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("schema, instance", [("datasources.schema.json", DATASOURCES),
                                              ("dashboards.schema.json", PROVIDERS)], ids=["datasources", "providers"])
def test_the_provisioning_files_validate_against_their_schema(schema, instance):
    result = _check_jsonschema(SCHEMAS / schema, instance)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_datasource_schema_rejects_a_datasource_without_uid_and_a_link_without_target(tmp_path):
    doc = yaml.safe_load(DATASOURCES.read_text())
    del doc["datasources"][0]["uid"]
    doc["datasources"][1]["jsonData"]["tracesToLogsV2"].pop("datasourceUid")
    bad = tmp_path / "datasources.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = _check_jsonschema(SCHEMAS / "datasources.schema.json", bad)
    assert result.returncode == 1
    assert "'uid' is a required property" in result.stdout
    assert "'datasourceUid' is a required property" in result.stdout


def test_the_datasources_are_prometheus_tempo_and_loki_at_their_service_urls():
    ds = _datasources()
    assert {uid: (d["type"], d["url"]) for uid, d in ds.items()} == {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "tempo": ("tempo", "http://tempo:3200"),
        "loki": ("loki", "http://loki:3100"),
    }
    assert [d["uid"] for d in ds.values() if d.get("isDefault")] == ["prometheus"]


def _correlations(ds: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(where, the UID it names, the type it must have) for every link between datasources."""
    out = []
    for uid, d in ds.items():
        j = d.get("jsonData", {})
        for e in j.get("exemplarTraceIdDestinations", []):
            out.append((f"{uid}.exemplarTraceIdDestinations[{e['name']}]", e["datasourceUid"], "tempo"))
        if "tracesToLogsV2" in j:
            out.append((f"{uid}.tracesToLogsV2", j["tracesToLogsV2"]["datasourceUid"], "loki"))
        if "serviceMap" in j:
            out.append((f"{uid}.serviceMap", j["serviceMap"]["datasourceUid"], "prometheus"))
        if "lokiSearch" in j:
            out.append((f"{uid}.lokiSearch", j["lokiSearch"]["datasourceUid"], "loki"))
        for f in j.get("derivedFields", []):
            out.append((f"{uid}.derivedFields[{f['name']}]", f["datasourceUid"], "tempo"))
    return out


def test_every_correlation_names_an_existing_datasource_of_the_right_type():
    ds = _datasources()
    links = _correlations(ds)
    # Exemplars → Tempo, Tempo → Loki (logs of a trace) and → Prometheus (service map), Loki → Tempo.
    assert {where.split("[")[0] for where, _, _ in links} >= {
        "prometheus.exemplarTraceIdDestinations", "tempo.tracesToLogsV2", "tempo.serviceMap", "loki.derivedFields"}
    for where, uid, kind in links:
        assert uid in ds, f"{where} names datasource uid {uid!r}, not provisioned"
        assert ds[uid]["type"] == kind, f"{where} names {uid!r} of type {ds[uid]['type']}, wants {kind}"


def test_the_links_follow_the_trace_id():
    ds = _datasources()
    assert [e["name"] for e in ds["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]] == ["trace_id"]
    t2l = ds["tempo"]["jsonData"]["tracesToLogsV2"]
    assert t2l["filterByTraceID"] is True and "__trace.traceId" in t2l["query"]
    (field,) = ds["loki"]["jsonData"]["derivedFields"]
    # trace_id is structured metadata in Loki: a label matcher, not a regex over the line.
    assert (field["name"], field["matcherType"], field["matcherRegex"]) == ("trace_id", "label", "trace_id")
    assert "__value.raw" in field["url"]


def test_grafana_macros_are_escaped_from_provisioning_env_expansion():
    # Grafana expands $VAR and ${VAR} in provisioning files; its own ${__...} macros must be written $${__...}.
    text = DATASOURCES.read_text()
    assert "${__" in text
    assert not re.search(r"(?<!\$)\$\{__", text), "an unescaped ${__...} would be replaced by an empty env variable"


def test_the_committed_dashboards_are_what_the_code_builds():
    built = build.render()
    assert sorted(built) == [p.name for p in DASHBOARD_FILES], "run python -m backends.grafana.build"
    for name, text in built.items():
        assert (build.OUT / name).read_text() == text, \
            f"{name} differs from its code: run python -m backends.grafana.build"
    assert build.main(["--check"]) == 0


@pytest.mark.parametrize("name", [p.name for p in DASHBOARD_FILES])
def test_each_dashboard_reads_back_through_the_sdk_types_unchanged(name):
    data = json.loads((build.OUT / name).read_text())
    again = json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder, sort_keys=True))
    assert again == data, "a key the dashboard schema does not know, or a value of the wrong type"


@pytest.mark.parametrize("name", [p.name for p in DASHBOARD_FILES])
def test_each_dashboard_is_well_formed(name):
    d = json.loads((build.OUT / name).read_text())
    assert d["uid"].startswith("otelpipe-") and d["title"]
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)) and all(ids), f"panel ids must be unique and non-zero: {ids}"
    for p in panels(d):
        if p["type"] == "row":
            continue
        assert p["type"] in {"timeseries", "stat", "table"}, p["type"]
        assert p["targets"], f"panel {p['title']!r} has no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), f"panel {p['title']!r}: refIds {refs}"
        assert all(t["expr"].strip() for t in p["targets"])


def test_the_dashboards_cover_every_service_and_the_pipeline():
    titles = {d["uid"]: {p["title"] for p in panels(d)} for d in dashboard_json().values()}
    assert set(titles) == {"otelpipe-whatsapp-ingest", "otelpipe-whatsapp-sessions", "otelpipe-divan",
                           "otelpipe-pipeline", "otelpipe-outbound", "otelpipe-crosssell"}
    assert {"Breaker state per tenant", "Queue depth by queue"} <= titles["otelpipe-outbound"]
    assert {"Inference latency", "Availability burn rate", "Sync records by org"} <= titles["otelpipe-crosssell"]
    assert {"401/403 refusals a minute", "429 refusals a minute", "Recent failures (time range)"} <= \
        titles["otelpipe-whatsapp-ingest"]
    assert {"Redis and PostgreSQL", "Chat and proximity", "Backend overview"} <= titles["otelpipe-divan"]
    assert {"Items by stage", "Drops by reason", "Redactions by rule", "Log sampling ratio", "Sending queue depth",
            "Processing latency p95"} <= titles["otelpipe-pipeline"]


def test_every_datasource_a_dashboard_names_is_provisioned():
    ds = _datasources()
    for name, d in dashboard_json().items():
        for p in panels(d):
            for ref in [p.get("datasource"), *(t.get("datasource") for t in p.get("targets", []))]:
                if ref is None:
                    continue
                assert ref["uid"] in ds, f"{name}: panel {p['title']!r} names datasource uid {ref['uid']!r}"
                assert ref["type"] == ds[ref["uid"]]["type"], f"{name}: panel {p['title']!r}: {ref}"


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) for every query of every panel."""
    return [(name, p["title"], t["expr"]) for name, d in dashboard_json().items()
            for p in panels(d) for t in p.get("targets", [])]


def test_every_series_a_dashboard_reads_is_scraped_or_recorded():
    known, pending = known_metrics()
    recorded = {r.record for r in load_rules() if r.record}
    for name, title, expr in dashboard_queries():
        for series in series_names(expr.replace("$__", "__")):
            assert series not in pending, f"{name}: {title!r} reads {series}, of a service not built yet"
            assert series in known or series in recorded, f"{name}: {title!r} reads {series}, in no scrape or rule"
