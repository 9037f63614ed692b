"""What the deployed processes read, derived from their own code and configs (never a hand list):
the settings fields of each seed service, the ``${env:VAR}`` references of the processors and
Collector configs, and the endpoints those resolve to."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from services.divan.settings import Settings as DivanSettings
from services.ingest.settings import IngestSettings
from services.obs import ObsSettings
from services.session.settings import SessionSettings
from tests.support.procs import REPO

# Each seed service's settings classes: its own, and the obs SDK's (obs.init reads ObsSettings()).
SERVICE_SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "ingest": (IngestSettings, ObsSettings),
    "session": (SessionSettings, ObsSettings),
    "divan": (DivanSettings,),
}
# The services image's entrypoint reads PORT (docker/serve_service.py); the healthcheck too.
ENTRYPOINT_VARS = {"PORT"}

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_NAME = re.compile(r"(?i)token|secret|passw|api_?key|hmac|(?:^|_)key$")


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable ``cls`` reads: field names and their validation aliases."""
    names = set()
    for name, field in cls.model_fields.items():
        names.add(name)
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif alias is not None and hasattr(alias, "choices"):
            names.update(c for c in alias.choices if isinstance(c, str))
    return names


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def must_wire(cls: type[BaseSettings]) -> set[str]:
    """The variables a deployment has to set for ``cls``: required fields, every secret (a missing one
    fails closed or falls back to a placeholder), every URL or endpoint (the defaults are loopback or
    in-process fakes), and ENV (the default is dev)."""
    out = {"ENV"}
    for name, field in cls.model_fields.items():
        if field.is_required() or _is_secret(field.annotation) or name.endswith(("_URL", "_ENDPOINT")):
            out.add(name)
    return out & env_names(cls)


def service_reads(service: str) -> set[str]:
    return set().union(*(env_names(c) for c in SERVICE_SETTINGS[service])) | ENTRYPOINT_VARS


def service_must_wire(service: str) -> set[str]:
    return set().union(*(must_wire(c) for c in SERVICE_SETTINGS[service])) | ENTRYPOINT_VARS


@dataclass(frozen=True)
class EnvRef:
    name: str
    default: str | None


def config_env_refs(*paths: Path) -> dict[str, EnvRef]:
    """``${env:NAME[:-default]}`` in config files (comments skipped); the last default wins, as merging does."""
    refs: dict[str, EnvRef] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
            for m in _ENV_REF.finditer(code):
                refs[m.group(1)] = EnvRef(m.group(1), m.group(2))
    return refs


def processors_config_reads(path: Path) -> set[str]:
    """The processors config's ``${env:...}`` names plus the variables its components name (``*_env`` keys)."""
    text = path.read_text()
    named = set(re.findall(r"^\s*\w+_env:\s*([A-Z_][A-Z0-9_]*)\s*$", text, flags=re.MULTILINE))
    return set(config_env_refs(path)) | named


def must_set(refs: dict[str, EnvRef], *, loopback_ok: set[str] = frozenset()) -> set[str]:
    """Variables without a default, or whose default points at this host (wrong inside a container)."""
    return {r.name for r in refs.values()
            if (r.default is None or "127.0.0.1" in r.default or "localhost" in r.default)
            and r.name not in loopback_ok}


def listen_ports(refs: dict[str, EnvRef], env: dict[str, str]) -> set[int]:
    """The ports a config listens on under ``env``: endpoints bound to a local or wildcard address,
    and ``*_PORT`` values (the Collector's self-metrics port, paired with its host)."""
    ports = set()
    for r in refs.values():
        value = env.get(r.name, r.default or "").strip()
        m = re.fullmatch(r"(0\.0\.0\.0|127\.0\.0\.1|\[::\]|)?:(\d+)", value)
        if m:
            ports.add(int(m.group(2)))
        elif r.name.endswith("_PORT") and value.isdigit():
            ports.add(int(value))
    return ports


COLLECTOR_FILES = {
    "gateway.yaml": REPO / "collector" / "gateway.yaml",
    "backends.yaml": REPO / "collector" / "overlays" / "backends.yaml",
    "datadog.yaml": REPO / "collector" / "overlays" / "datadog.yaml",
    "deploy.yaml": REPO / "docker" / "collector-deploy.yaml",
}
PROCESSORS_CONFIG = REPO / "processors" / "configs" / "pipeline.yaml"
# Deliberately loopback in a container: zpages is a debugging page for `kubectl port-forward` only,
# and the static resolver's list is removed by docker/collector-deploy.yaml (test_deploy_overlay_*).
COLLECTOR_LOOPBACK_OK = {"OTELCOL_ZPAGES_ENDPOINT", "OTELPROC_HOSTNAMES"}
