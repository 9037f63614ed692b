"""compose and k8s run the Collector and the processors on the very files `make run` uses:
the same paths, mounted (compose) or generated into ConfigMaps (k8s) byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import devrun
from tests.deploy.test_compose import collector_files, collectors
from tests.deploy.test_k8s import configmap, one
from tests.support.procs import REPO

MAKE_RUN_COLLECTOR = [REPO / "collector" / "gateway.yaml", devrun.BACKENDS_OVERLAY]
MAKE_RUN_PROCESSORS = devrun.CONFIGS / "pipeline.yaml"


def base_generators() -> dict[str, dict[str, Path]]:
    kust = yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())
    out = {}
    for gen in kust["configMapGenerator"]:
        files = {}
        for entry in gen["files"]:
            key, _, path = entry.rpartition("=")
            files[key or Path(path).name] = (REPO / "k8s" / "base" / path).resolve()
        out[gen["name"]] = files
    return out


def test_compose_mounts_the_make_run_files(compose: dict[str, Any]) -> None:
    for name, svc in collectors(compose).items():
        files = [p.resolve() for p in collector_files(svc)]
        assert files[: len(MAKE_RUN_COLLECTOR)] == [p.resolve() for p in MAKE_RUN_COLLECTOR], name
    procs = compose["services"]["processors"]
    mounted = {m.split(":")[1]: (REPO / m.split(":")[0]).resolve() for m in procs["volumes"]}
    assert mounted[procs["command"][1]] == MAKE_RUN_PROCESSORS.resolve()


def test_k8s_configmaps_are_generated_from_the_make_run_files(rendered: dict[str, list[dict[str, Any]]]) -> None:
    gens = base_generators()
    assert gens["otelcol-config"]["gateway.yaml"] == MAKE_RUN_COLLECTOR[0].resolve()
    assert gens["otelcol-config"]["backends.yaml"] == MAKE_RUN_COLLECTOR[1].resolve()
    assert gens["otelproc-config"]["pipeline.yaml"] == MAKE_RUN_PROCESSORS.resolve()
    for objs in rendered.values():
        # What a cluster gets is the files' text, byte for byte.
        for prefix, files in gens.items():
            data = configmap(objs, prefix)
            assert set(data) == set(files), prefix
            for key, path in files.items():
                assert data[key] == path.read_text(), f"{prefix}/{key} differs from {path}"
        args = one(objs, "StatefulSet", "otelcol")["spec"]["template"]["spec"]["containers"][0]["args"]
        assert [a.rsplit("/", 1)[1] for a in args[:2]] == ["gateway.yaml", "backends.yaml"]


def test_every_rule_file_and_dashboard_is_deployed() -> None:
    """A rule file or dashboard added to backends/ without being added to k8s/ fails here."""
    gens = base_generators()
    rule_files = {p.resolve() for p in (REPO / "backends/prometheus/rules").glob("*.yml")}
    assert set(gens["prometheus-rules"].values()) == rule_files
    assert set(gens["grafana-dashboards"].values()) == \
        {p.resolve() for p in (REPO / "backends/grafana/dashboards/json").glob("*.json")}
    names = {p.name for p in (REPO / "backends/prometheus/targets").glob("*.yml")}
    assert {p.name for p in (REPO / "docker/prometheus/targets").glob("*.yml")} == names
    assert set(gens["prometheus-targets"]) == names
