"""The Dockerfile (processors and services images) and the scripts its HEALTHCHECKs and entrypoint run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.pipeline import PASSTHROUGH, Processors
from tests.support.procs import REPO, Proc, free_port, require_tool, wait_for_port

DOCKERFILE = REPO / "Dockerfile"
HEALTHCHECK = REPO / "docker" / "healthcheck.py"
FINAL_STAGES = ("processors", "services")


def stages() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    lines = DOCKERFILE.read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        m = re.match(r"FROM (\S+) AS (\S+)", line)
        if m:
            current = m.group(2)
            out[current] = [line]
        elif current and line.strip() and not line.startswith("#"):
            out[current].append(line)
    return out


def test_hadolint_is_clean() -> None:
    tool = require_tool("hadolint", str(Path(sys.executable).parent / "hadolint"))
    out = subprocess.run([tool, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_rules() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE).group(1)
    assert re.fullmatch(r"python:[\d.]+-slim-\w+@sha256:[0-9a-f]{64}", base), "base pinned by tag and digest"
    froms = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert all(f in ("${PYTHON_IMAGE}", "build-base", "runtime-base") for f in froms)
    st = stages()
    for name in FINAL_STAGES:
        body = "\n".join(st[name])
        assert re.search(r"^COPY --from=build-", body, flags=re.MULTILINE), f"{name}: multi-stage, built elsewhere"
        user = re.findall(r"^USER (\S+)", body, flags=re.MULTILINE)
        assert user and not user[-1].startswith(("0", "root")), f"{name}: runs as non-root"
        assert re.search(r"^HEALTHCHECK .*CMD \[\"python\", \"/app/docker/healthcheck.py\"", body, flags=re.MULTILINE)
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*", "the context is deny-by-default (no var/, .env, secrets)"
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    for path in allowed:
        assert (REPO / path.rstrip("/")).exists(), path
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for src in copied.split():
            assert any(src.rstrip("/") == a.rstrip("/") or src.startswith(a) for a in allowed), src


def _healthcheck(mode: str, env: dict[str, str]) -> int:
    return subprocess.run([sys.executable, str(HEALTHCHECK), mode], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, timeout=30).returncode


def test_grpc_healthcheck_follows_the_processors(tmp_path: Path) -> None:
    procs = Processors(tmp_path, PASSTHROUGH, next_hop=f"127.0.0.1:{free_port()}", env_extra={})
    procs.start()
    target = {"OTELPROC_HEALTH_TARGET": f"127.0.0.1:{procs.port}"}
    try:
        assert _healthcheck("grpc", target) == 0
    finally:
        procs.stop()
    assert _healthcheck("grpc", target) == 1


def test_service_entrypoint_and_http_healthcheck(tmp_path: Path) -> None:
    port = free_port()
    env = {"PORT": str(port), "OTEL_SDK_DISABLED": "true", "OBS_LOG_JSON_STDOUT": "false",
           "HEALTH_PROBE_INTERVAL_SECONDS": "0", "PYTHONPATH": str(REPO)}
    proc = Proc([sys.executable, str(REPO / "docker" / "serve_service.py"), "divan"], log=tmp_path / "divan.log",
                env=env, cwd=tmp_path)
    try:
        wait_for_port(port, timeout=60, proc=proc.popen)
        assert _healthcheck("http", {"PORT": str(port)}) == 0, proc.output()[-2000:]
        assert _healthcheck("http", {"PORT": str(port), "HEALTH_PATH": "/health/nope"}) == 1
    finally:
        proc.stop()
    assert _healthcheck("http", {"PORT": str(port)}) == 1
    bad = subprocess.run([sys.executable, str(REPO / "docker" / "serve_service.py"), "nope"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "ingest|session|divan" in bad.stderr
