"""docker-compose.yml, checked without a Docker engine: the compose-spec schema, pinned images,
mounted files, the wiring of every variable and port the processes read, no secret in the file,
healthchecks and their dependants, the datadog profile and the scale path."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import wiring
from tests.support.procs import REPO, require_tool

PINNED = re.compile(r"^[a-z0-9./_-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
_INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}")
OUR_IMAGES = {"processors": "processors", "services": "services"}  # build target → image repo suffix


def dotenv_example() -> dict[str, str]:
    out = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def filled_env() -> dict[str, str]:
    """.env.example with every empty secret filled in, as an operator's .env would be."""
    return {k: v or f"test-{k.lower()}-value" for k, v in dotenv_example().items()}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against ``env``."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name, op, arg = m.groups()
            if env.get(name):
                return env[name]
            if op == "?":
                raise AssertionError(f"${{{name}}} is required: {arg}")
            return arg or ""
        return _INTERP.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    return value


def service_env(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def seed_service(svc: dict[str, Any]) -> str | None:
    """ingest, session or divan when ``svc`` runs the services image, else None."""
    if (svc.get("build") or {}).get("target") == "services" and svc.get("command"):
        return svc["command"][0]
    return None


def host_refs(value: str, names: set[str]) -> list[tuple[str, int]]:
    return [(h, int(p)) for h, p in re.findall(r"(?:^|[/@])([a-z][\w-]*):(\d+)", value) if h in names]


def test_compose_validates_against_the_compose_spec(tmp_path: Path) -> None:
    tool = require_tool("check-jsonschema", str(Path(sys.executable).parent / "check-jsonschema"))
    argv = [tool, "--builtin-schema", "vendor.compose-spec"]
    ok = subprocess.run([*argv, str(REPO / "docker-compose.yml")], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The schema bites: a condition compose does not know is refused.
    broken = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    broken["services"]["session"]["depends_on"]["redis"]["condition"] = "service_ready"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    bad = subprocess.run([*argv, str(tmp_path / "broken.yml")], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE))
    for name, svc in compose["services"].items():
        if "build" in svc:
            target = svc["build"]["target"]
            assert target in stages, f"{name}: build target {target!r} is not a stage of Dockerfile"
            assert svc["image"].startswith(f"otelpipe/{OUR_IMAGES[target]}:"), name
        else:
            assert PINNED.match(svc["image"]), f"{name}: {svc['image']} is not pinned by tag and digest"


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: {source} does not exist in the repo"
            else:
                assert source in declared, f"{name}: volume {source} is not declared under volumes"


def test_every_variable_a_service_reads_is_wired(compose: dict[str, Any]) -> None:
    seen = set()
    for name, svc in compose["services"].items():
        service = seed_service(svc)
        if service is None or name == "volume-init":
            continue
        seen.add(service)
        env = service_env(svc)
        missing = wiring.service_must_wire(service) - set(env)
        assert not missing, f"{name}: the service reads {sorted(missing)} and compose does not set them"
        unknown = set(env) - wiring.service_reads(service)
        assert not unknown, f"{name}: sets {sorted(unknown)}, which the service never reads"
    assert seen == set(wiring.SERVICE_SETTINGS)


def test_every_variable_the_processors_read_is_wired(compose: dict[str, Any]) -> None:
    env = service_env(compose["services"]["processors"])
    refs = wiring.config_env_refs(wiring.PROCESSORS_CONFIG)
    assert wiring.must_set(refs) - set(env) == set()
    assert set(env) - wiring.processors_config_reads(wiring.PROCESSORS_CONFIG) == set()
    mount = next(m for m in compose["services"]["processors"]["volumes"] if m.endswith(":ro"))
    assert compose["services"]["processors"]["command"] == ["--config", mount.split(":")[1]]


def collectors(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image", "").startswith("otel/")}


def collector_files(svc: dict[str, Any]) -> list[Path]:
    """The repo files a Collector service loads, through its --config flags and bind mounts."""
    mounts = {m.split(":")[1]: REPO / m.split(":")[0] for m in svc["volumes"] if m.startswith("./")}
    return [mounts[arg.removeprefix("--config=")] for arg in svc["command"]]


def test_every_variable_and_port_the_collector_reads_is_wired(compose: dict[str, Any]) -> None:
    assert set(collectors(compose)) == {"otelcol", "otelcol-datadog"}
    for name, svc in collectors(compose).items():
        files = collector_files(svc)
        refs = wiring.config_env_refs(*files)
        env = service_env(svc)
        assert wiring.must_set(refs, loopback_ok=wiring.COLLECTOR_LOOPBACK_OK) - set(env) == set(), name
        assert set(env) - set(refs) == set(), f"{name}: sets variables its configs never read"
        # Published ports are ports the config listens on.
        listening = wiring.listen_ports(refs, env)
        for port in svc.get("ports", []):
            assert int(str(port).rsplit(":", 1)[1]) in listening, f"{name}: {port} is not a port it listens on"


def test_every_host_and_port_a_process_is_pointed_at_is_served(compose: dict[str, Any]) -> None:
    """A URL or endpoint naming the processors or the Collector names a port it listens on."""
    procs_env = service_env(compose["services"]["processors"])
    serving = {
        "processors": wiring.listen_ports(wiring.config_env_refs(wiring.PROCESSORS_CONFIG), procs_env),
        "otelcol": wiring.listen_ports(wiring.config_env_refs(*collector_files(compose["services"]["otelcol"])),
                                       service_env(compose["services"]["otelcol"])),
    }
    assert {24317, 8890, 8898} <= serving["processors"]
    assert set(compose["services"]["processors"]["expose"]) == {str(p) for p in serving["processors"]}
    targets = REPO / "docker" / "prometheus" / "targets"
    values = [v for s in compose["services"].values() for v in service_env(s).values()]
    values += [t for f in targets.glob("*.yml") for g in yaml.safe_load(f.read_text()) for t in g["targets"]]
    checked = 0
    for value in values:
        for host, port in host_refs(value, set(serving)):
            assert port in serving[host], f"{value}: {host} does not listen on {port}"
            checked += 1
    assert checked >= 6
    # Each seed service listens on its PORT, publishes it, and its healthcheck reads it.
    for name, svc in compose["services"].items():
        if seed_service(svc) and name != "volume-init":
            port = service_env(svc)["PORT"]
            assert any(str(p).endswith(f":{port}") for p in svc["ports"]), name
            assert svc["healthcheck"]["test"][-1] == "http"


def test_no_secret_sits_in_the_file(compose: dict[str, Any]) -> None:
    example = dotenv_example()
    referenced = set(_INTERP.findall((REPO / "docker-compose.yml").read_text()) and
                     [m.group(1) for m in _INTERP.finditer((REPO / "docker-compose.yml").read_text())])
    assert referenced - set(example) == set(), "every variable compose reads is named in .env.example"
    assert "COMPOSE_PROFILES" in example
    for key, value in example.items():
        if wiring.SECRET_NAME.search(key):
            assert value == "", f".env.example: {key} carries a value"
    for name, svc in compose["services"].items():
        for key, value in service_env(svc).items():
            if wiring.SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*|:-)?\}", value), f"{name}.{key} is not a reference: {value}"
            # Credentials inside URLs come from variables too.
            for cred in re.findall(r"://[^:/@\s]*:([^@\s]+)@", value):
                assert cred.startswith("${"), f"{name}.{key}: a literal password in a URL"
    for word in re.findall(r"[A-Za-z0-9+/_=-]{24,}", (REPO / "docker-compose.yml").read_text()):
        if not re.fullmatch(r"[0-9a-f]{64}", word):
            assert not (re.search(r"[a-z]", word) and re.search(r"[A-Z]", word) and re.search(r"\d", word)), word


def test_healthchecks_and_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        assert "healthcheck" in svc or svc.get("x-healthcheck"), f"{name}: neither a healthcheck nor why not"
        for dep, cond in (svc.get("depends_on") or {}).items():
            target = services[dep]
            expected = ("service_healthy" if "healthcheck" in target else
                        "service_completed_successfully" if target.get("entrypoint") else "service_started")
            assert cond["condition"] == expected, f"{name} → {dep}: {cond['condition']}, expected {expected}"


def test_datadog_profile_adds_the_datadog_overlay(compose: dict[str, Any]) -> None:
    cols = collectors(compose)
    plain, dd = cols["otelcol"], cols["otelcol-datadog"]
    assert plain["profiles"] == ["otelcol"] and dd["profiles"] == ["datadog"]
    plain_files = collector_files(plain)
    assert collector_files(dd) == [*plain_files[:-1], wiring.COLLECTOR_FILES["datadog.yaml"], plain_files[-1]]
    assert wiring.COLLECTOR_FILES["datadog.yaml"] not in collector_files(plain)
    for svc in (plain, dd):
        assert svc["networks"]["default"]["aliases"] == ["otelcol"]
    # Whichever runs, the services reach it under one name and do not require the other.
    for name in ("ingest", "session", "divan"):
        deps = compose["services"][name]["depends_on"]
        assert deps["otelcol"]["required"] is False and deps["otelcol-datadog"]["required"] is False


def test_the_collector_config_passes_otelcol_validate(compose: dict[str, Any], otelcol: str) -> None:
    """The default profile's Collector. (The datadog profile's adds collector/overlays/datadog.yaml, whose
    exporter bin/otelcol lacks; `make collector-datadog` builds one that has it.)"""
    svc = interpolate(copy.deepcopy(collectors(compose)["otelcol"]), filled_env())
    argv = [otelcol, "validate", *(f"--config={f}" for f in collector_files(svc))]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                                               **service_env(svc)})
    assert out.returncode == 0, out.stderr


def test_processors_scale_by_dns(compose: dict[str, Any]) -> None:
    procs = compose["services"]["processors"]
    # --scale needs no fixed name and no host port.
    assert "container_name" not in procs and "ports" not in procs
    deploy = yaml.safe_load(wiring.COLLECTOR_FILES["deploy.yaml"].read_text())
    for signal in ("traces", "metrics", "logs"):
        resolver = deploy["exporters"][f"loadbalancing/{signal}"]["resolver"]
        assert resolver["static"] is None and "dns" in resolver
        assert resolver["dns"]["hostname"] == "${env:OTELPROC_DNS_NAME:-processors}"
    for svc in collectors(compose).values():
        assert service_env(svc)["OTELPROC_DNS_NAME"] == "processors"
    # Replicas share the session-health fleet view through Redis.
    assert service_env(procs)["SESSION_HEALTH_STORE"].startswith("redis://")
    assert (procs["stop_grace_period"] == "30s")
