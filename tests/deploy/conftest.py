"""Fixtures of the deployment checks: the compose file, the rendered k8s overlays, the Kubernetes schemas."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.procs import REPO, require_tool

OVERLAYS = ("staging", "production")
KUSTOMIZE = REPO / "bin" / "kustomize"


def kustomize_argv(overlay_dir: Path) -> list[str]:
    """bin/kustomize (scripts/build-kustomize.sh, pinned), else kubectl's built-in one."""
    if KUSTOMIZE.exists():
        return [str(KUSTOMIZE), "build", "--load-restrictor=LoadRestrictionsNone", str(overlay_dir)]
    kubectl = require_tool("kustomize (make kustomize builds bin/kustomize)", "kubectl")
    return [kubectl, "kustomize", "--load-restrictor=LoadRestrictionsNone", str(overlay_dir)]


def render(overlay_dir: Path) -> list[dict[str, Any]]:
    out = subprocess.run(kustomize_argv(overlay_dir), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kustomize build {overlay_dir} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(REPO / "k8s" / "overlays" / name) for name in OVERLAYS}
