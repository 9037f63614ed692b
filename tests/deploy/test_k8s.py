"""k8s/, rendered by kustomize for each overlay and checked without a cluster: the Kubernetes 1.30
schemas, the embedded Collector and processors configs, selectors, NetworkPolicies, probes,
secrets by name, securityContext, labels, and what production must have."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from processors.config import load_config
from tests.deploy import wiring
from tests.deploy.conftest import OVERLAYS
from tests.deploy.test_compose import PINNED, dotenv_example
from tests.support.procs import REPO

K8S_VERSION = "1.30.0"
WORKLOADS = {"Deployment", "StatefulSet"}


def workloads(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] in WORKLOADS]


def pod_labels(objs: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [w["spec"]["template"]["metadata"]["labels"] for w in workloads(objs)]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected(objs: list[dict[str, Any]], selector: dict[str, str]) -> list[dict[str, Any]]:
    return [w for w in workloads(objs) if selects(selector, w["spec"]["template"]["metadata"]["labels"])]


def containers(w: dict[str, Any]) -> list[dict[str, Any]]:
    spec = w["spec"]["template"]["spec"]
    return spec["containers"] + spec.get("initContainers", [])


def one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def configmap(objs: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    """A generated ConfigMap's data (its name carries kustomize's hash suffix)."""
    found = [o for o in objs if o["kind"] == "ConfigMap" and re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}",
                                                                           o["metadata"]["name"])]
    assert len(found) == 1, prefix
    return found[0]["data"]


def container_env(c: dict[str, Any]) -> dict[str, str]:
    """Plain values as they are; a secretKeyRef as a stand-in value (the real one lives in the cluster)."""
    env = {}
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", f"test-{e['name'].lower()}-value")
    for name, value in env.items():  # $(VAR) expansion, as the kubelet does
        env[name] = re.sub(r"\$\(([A-Z_]+)\)", lambda m: env.get(m.group(1), m.group(0)), value)
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objs = rendered[overlay]
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for expected in [("Deployment", "processors"), ("StatefulSet", "otelcol"), ("Service", "processors"),
                     ("HorizontalPodAutoscaler", "processors"), ("PodDisruptionBudget", "processors"),
                     ("NetworkPolicy", "processors"), ("StatefulSet", "redis"), ("StatefulSet", "postgres"),
                     *(("Deployment", n) for n in ("ingest", "session", "divan", "prometheus", "alertmanager",
                                                   "grafana", "tempo", "loki"))]:
        assert expected in names, f"{overlay}: {expected} missing"
    namespaces = {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"}
    assert namespaces == {one(objs, "Namespace", next(iter(namespaces)))["metadata"]["name"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(rendered: dict[str, list[dict[str, Any]]],
                                                               overlay: str) -> None:
    for obj in rendered[overlay]:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    # The check bites: a misspelt field is refused.
    bad = copy.deepcopy(one(rendered[overlay], "Deployment", "processors"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grcp"] = {"port": 24317}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_embedded_collector_config_passes_otelcol_validate(rendered: dict[str, list[dict[str, Any]]],
                                                               overlay: str, otelcol: str, tmp_path: Path) -> None:
    objs = rendered[overlay]
    data = configmap(objs, "otelcol-config")
    sts = one(objs, "StatefulSet", "otelcol")
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")["mountPath"]
    for key, text in data.items():
        (tmp_path / key).write_text(text)
    argv = [otelcol, "validate"]
    for arg in c["args"]:
        path = arg.removeprefix("--config=")
        assert path.startswith(mount + "/") and path.rsplit("/", 1)[1] in data, arg
        argv.append(f"--config={tmp_path / path.rsplit('/', 1)[1]}")
    env = container_env(c)
    env.pop("GOMEMLIMIT", None)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    assert out.returncode == 0, out.stderr
    refs = wiring.config_env_refs(*(tmp_path / a.rsplit("/", 1)[1] for a in c["args"]))
    assert wiring.must_set(refs, loopback_ok=wiring.COLLECTOR_LOOPBACK_OK) - set(env) == set()
    # The queue lives on the StatefulSet's volume claim.
    data_mount = next(m for m in c["volumeMounts"] if m["name"] == "data")["mountPath"]
    assert env["OTELCOL_QUEUE_DIR"].startswith(data_mount + "/")
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_embedded_processors_config_passes_otelproc_validate(rendered: dict[str, list[dict[str, Any]]],
                                                                 overlay: str, tmp_path: Path) -> None:
    objs = rendered[overlay]
    data = configmap(objs, "otelproc-config")
    (c,) = one(objs, "Deployment", "processors")["spec"]["template"]["spec"]["containers"]
    for key, text in data.items():
        (tmp_path / key).write_text(text)
    config = c["args"][c["args"].index("--config") + 1]
    env = container_env(c)
    out = subprocess.run([sys.executable, "-m", "processors.cli", "validate", "--config",
                          str(tmp_path / Path(config).name)], capture_output=True, text=True, timeout=60,
                         cwd=REPO, env={"PATH": "/usr/bin:/bin", **env})
    assert out.returncode == 0, out.stdout + out.stderr
    refs = wiring.config_env_refs(tmp_path / Path(config).name)
    assert wiring.must_set(refs) - set(env) == set()
    assert set(env) - wiring.processors_config_reads(wiring.PROCESSORS_CONFIG) - {"REDIS_PASSWORD"} == set()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_a_service_reads_is_wired(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for name in wiring.SERVICE_SETTINGS:
        (c,) = one(rendered[overlay], "Deployment", name)["spec"]["template"]["spec"]["containers"]
        assert c["args"] == [name]
        env = container_env(c)
        assert wiring.service_must_wire(name) - set(env) == set(), name
        expanded_only = {m for e in c["env"] for m in re.findall(r"\$\(([A-Z_]+)\)", e.get("value", ""))}
        assert set(env) - wiring.service_reads(name) - expanded_only == set(), name
        assert int(env["PORT"]) in {p["containerPort"] for p in c["ports"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_selectors_match_pod_labels(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objs = rendered[overlay]
    for svc in (o for o in objs if o["kind"] == "Service"):
        pods = selected(objs, svc["spec"]["selector"])
        assert pods, f"Service {svc['metadata']['name']} selects no pod"
        names = {p["name"] for w in pods for c in containers(w) for p in c["ports"]}
        numbers = {p["containerPort"] for w in pods for c in containers(w) for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names | numbers, f"{svc['metadata']['name']}: {port}"
    for kind in ("HorizontalPodAutoscaler",):
        for hpa in (o for o in objs if o["kind"] == kind):
            ref = hpa["spec"]["scaleTargetRef"]
            one(objs, ref["kind"], ref["name"])
    for pdb in (o for o in objs if o["kind"] == "PodDisruptionBudget"):
        assert selected(objs, pdb["spec"]["selector"]["matchLabels"]), pdb["metadata"]["name"]
    for w in workloads(objs):
        assert selects(w["spec"]["selector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_select_existing_pods(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objs = rendered[overlay]
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    assert policies
    for np in policies:
        targets = selected(objs, np["spec"]["podSelector"]["matchLabels"])
        assert targets, np["metadata"]["name"]
        served = {p["containerPort"] for w in targets for c in containers(w) for p in c["ports"]}
        for rule in np["spec"]["ingress"]:
            for peer in rule["from"]:
                assert selected(objs, peer["podSelector"]["matchLabels"]), f"{np['metadata']['name']}: {peer}"
            for port in rule["ports"]:
                assert port["port"] in served
    # The processors admit the Collector on OTLP and Prometheus on metrics (and the session proxy on the API).
    np = one(objs, "NetworkPolicy", "processors")
    admitted = {(r["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], r["ports"][0]["port"])
                for r in np["spec"]["ingress"]}
    assert admitted == {("otelcol", 24317), ("prometheus", 8898), ("session", 8890)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_point_at_declared_ports(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for w in workloads(rendered[overlay]):
        for c in containers(w):
            declared = {p["name"] for p in c["ports"]} | {p["containerPort"] for p in c["ports"]}
            probes = [c[k] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c]
            assert "readinessProbe" in c and "livenessProbe" in c, f"{w['metadata']['name']}/{c['name']}"
            for probe in probes:
                handler = next(probe[k] for k in ("grpc", "httpGet", "tcpSocket", "exec") if k in probe)
                if "port" in handler:
                    assert handler["port"] in declared, f"{w['metadata']['name']}: probe on {handler['port']}"
    procs = one(rendered[overlay], "Deployment", "processors")["spec"]["template"]["spec"]
    c = procs["containers"][0]
    assert c["readinessProbe"]["grpc"]["port"] == c["livenessProbe"]["grpc"]["port"] == 24317


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_processors_drain_inside_the_grace_period(rendered: dict[str, list[dict[str, Any]]], overlay: str,
                                                  tmp_path: Path) -> None:
    objs = rendered[overlay]
    spec = one(objs, "Deployment", "processors")["spec"]["template"]["spec"]
    c = spec["containers"][0]
    (tmp_path / "pipeline.yaml").write_text(configmap(objs, "otelproc-config")["pipeline.yaml"])
    drain = load_config(tmp_path / "pipeline.yaml", environ=container_env(c)).service.server.drain_timeout_s
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] > float(pre_stop[1]) + drain


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_by_name(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objs = rendered[overlay]
    assert not [o for o in objs if o["kind"] == "Secret"], "no Secret is inlined"
    keys = set(dotenv_example())
    for w in workloads(objs):
        for c in containers(w):
            for e in c.get("env", []):
                if wiring.SECRET_NAME.search(e["name"]) and e["name"] not in {"REDISCLI_AUTH"}:
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    assert ref, f"{w['metadata']['name']}: {e['name']} is not from a Secret"
                if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]:
                    ref = e["valueFrom"]["secretKeyRef"]
                    # `kubectl create secret generic otelpipe-secrets --from-env-file=.env` holds every key.
                    assert ref["name"] == "otelpipe-secrets" and ref["key"] in keys, ref
                for cred in re.findall(r"://[^:/@\s]*:([^@\s]+)@", e.get("value", "")):
                    assert cred.startswith("$("), f"{e['name']}: a literal password in a URL"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down_and_sized(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for w in workloads(rendered[overlay]):
        pod = w["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod.get("automountServiceAccountToken") is False
        for c in containers(w):
            where = f"{overlay}: {w['metadata']['name']}/{c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"] is True, where
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), where
            image = c["image"]
            assert PINNED.match(image) or re.fullmatch(r"otelpipe/(processors|services):\d+\.\d+\.\d+", image), \
                f"{where}: {image} is not pinned"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_standard_labels_everywhere(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for obj in rendered[overlay]:
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] != "Namespace":
            assert labels.get("app.kubernetes.io/part-of") == "otelpipe", obj["metadata"]["name"]
            assert "app.kubernetes.io/instance" in labels
        if obj["kind"] not in ("ConfigMap",):
            assert "app.kubernetes.io/name" in labels, obj["metadata"]["name"]
    for labels in pod_labels(rendered[overlay]):
        assert {"app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"} <= set(labels)


def test_production_has_hpa_pdb_network_policy_and_its_sizes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    prod = rendered["production"]
    hpa = one(prod, "HorizontalPodAutoscaler", "processors")
    assert hpa["spec"]["minReplicas"] >= 3
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert one(prod, "PodDisruptionBudget", "processors")["spec"]["minAvailable"] >= 2
    one(prod, "NetworkPolicy", "processors")
    assert one(prod, "StatefulSet", "otelcol")["spec"]["replicas"] == 2
    for name in wiring.SERVICE_SETTINGS:
        dep = one(prod, "Deployment", name)
        assert dep["spec"]["replicas"] == 2
        assert container_env(dep["spec"]["template"]["spec"]["containers"][0])["ENV"] == "prod"
    assert one(prod, "Service", "processors")["spec"]["clusterIP"] == "None"


def test_rendering_needs_the_repo_files(tmp_path: Path) -> None:
    """The ConfigMaps come from the repo's files through the load restrictor: without it kustomize refuses."""
    from tests.deploy.conftest import kustomize_argv

    argv = [a for a in kustomize_argv(REPO / "k8s" / "overlays" / "staging") if "load-restrictor" not in a]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "is not in or below" in out.stderr
    assert yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())["configMapGenerator"]
