"""`make load-local`: the local stack as `make run` starts it, every load at a scale this machine holds.

Starts the processors and otelcol (standalone mode without bin/otelcol) on
`make run`'s ports, the three services on :8001-:8003 with `make run`'s
secrets (var/*.token, var/*.key), and, when PostgreSQL's server binaries are
installed (`make system-deps`), a PostgreSQL of its own for divan and ingest
(otherwise SQLite files under var/loadtests/). Then it runs, one after the
other: chat send, proximity nearby, the OTLP user and the ingest harness;
prints each gate's verdict, and stops everything it started, by PID.

Scale (environment): LOAD_DURATION (s, default 20), CHAT_USERS (peak, default
20), NEARBY_USERS (default 10), NEARBY_RPS (default 50), OTLP_USERS (default
2), OTLP_RPS (export requests/s per signal, default 10), HARNESS_COUNT
(default 50). Reports go to var/loadtests/ (Locust CSV and HTML per load; the
harness's perf_baseline.json and .md).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import devrun

REPO = devrun.REPO
OUT = devrun.VAR / "loadtests"
PG_PORT = 15432
_CLEANUP: list[Path] = []


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _postgres(procs: list[tuple[str, subprocess.Popen]]) -> str | None:
    """A throwaway PostgreSQL under var/loadtests/pg on :15432; None when its binaries are not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found or not _free(PG_PORT):
        return None
    bindir = Path(found[-1]).parent
    # A directory the `postgres` user can reach (initdb and postgres refuse to run as root).
    base = Path(tempfile.mkdtemp(prefix="otelpipe-loadpg-"))
    _CLEANUP.append(base)
    os.chmod(base, 0o755)
    (base / "sock").mkdir()
    wrap = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if wrap:
        subprocess.run(["chown", "-R", "postgres", str(base)], check=True)
    subprocess.run([*wrap, str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8"], check=True, capture_output=True)
    procs.append(("postgres", devrun._start([*wrap, str(bindir / "postgres"), "-D", str(base / "data"), "-p",
                                             str(PG_PORT), "-h", "127.0.0.1", "-k", str(base / "sock"),
                                             "-c", "fsync=off"], "loadtests-postgres", {})))
    devrun._wait_port(PG_PORT, procs[-1][1], "postgres")
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres", autocommit=True) as conn:
                for db in ("divan", "ingest"):
                    conn.execute(f"CREATE DATABASE {db}")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return f"postgresql://postgres@127.0.0.1:{PG_PORT}"


def _locust(name: str, locustfile: str, host: str, args: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / locustfile), "--headless", "--host", host,
            "--only-summary", "--csv", str(out / "locust"), "--html", str(out / "report.html"),
            "--stop-timeout", "2", *args]
    print(f"==> {name}: locust {' '.join(argv[4:])}", flush=True)
    done = subprocess.run(argv, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    (out / "locust.log").write_text(done.stdout + done.stderr)
    keep = [line for line in done.stdout.splitlines()
            if line.startswith(("GATE", "ALERT", "  gate", "OTLP"))]
    stats = out / "locust_stats.csv"
    if stats.exists():
        with stats.open() as f:
            for row in csv.DictReader(f):
                keep.append(f"{row['Type']} {row['Name']}: {row['Request Count']} requests, "
                            f"{float(row['Requests/s']):.1f}/s, {row['Failure Count']} failed, p50 {row['50%']} ms, "
                            f"p95 {row['95%']} ms")
    for line in keep:
        print(f"    {line}")
    print(f"    exit {done.returncode}; reports in {out.relative_to(REPO)}/", flush=True)
    return done.returncode, keep


def main() -> int:
    with devrun.sigterm_as_interrupt():
        return _main()


def _main() -> int:
    standalone = not devrun.OTELCOL.exists()
    ports = {**(devrun.STANDALONE_PORTS if standalone else {**devrun.COLLECTOR_PORTS, **devrun.PROCESSOR_PORTS}),
             **{p: f"{n} service" for n, p in devrun.SERVICES.items()}}
    busy = [f":{p} ({what})" for p, what in ports.items() if not _free(p)]
    if busy:
        print(f"make load-local: ports already in use: {', '.join(busy)} (is `make run` running?)", file=sys.stderr)
        return 1
    duration = _env_int("LOAD_DURATION", 20)
    sinks = OUT / "sinks"
    shutil.rmtree(OUT, ignore_errors=True)
    sinks.mkdir(parents=True)
    env = {"OTELCOL_SINK_DIR": str(sinks), "OTELCOL_QUEUE_DIR": str(OUT / "otelcol-queue"),
           "OTELPROC_SINK_DIR": str(sinks), "OTELPROC_RECEIVER_ENDPOINT": "127.0.0.1:24317",
           "OTELPROC_NEXT_HOP": "127.0.0.1:14317", "OTELPROC_METRICS_ADDRESS": "127.0.0.1:8898",
           "OTELPROC_HOSTNAMES": "[127.0.0.1:24317]",
           "SESSION_HEALTH_ADMIN_TOKEN": devrun._local_secret("SESSION_HEALTH_ADMIN_TOKEN", "session-health.token"),
           "REDACTION_HMAC_KEY": devrun._local_secret("REDACTION_HMAC_KEY", "redaction-hmac.key")}
    procs: list[tuple[str, subprocess.Popen]] = []
    verdicts: list[tuple[str, int, list[str]]] = []
    try:
        if standalone:
            print("==> standalone mode (no bin/otelcol): the processors take OTLP on :4317 themselves")
            procs.append(("processors", devrun._start([sys.executable, "-m", "processors.cli", "serve", "--config",
                                                       str(devrun.CONFIGS / "standalone.yaml")], "processors", env)))
            devrun._wait_port(4317, procs[-1][1], "processors")
        else:
            print("==> processors (processors/configs/pipeline.yaml) on :24317, otelcol (collector/gateway.yaml) "
                  "on :4317")
            procs.append(("processors", devrun._start([sys.executable, "-m", "processors.cli", "serve", "--config",
                                                       str(devrun.CONFIGS / "pipeline.yaml")], "processors", env)))
            devrun._wait_port(24317, procs[-1][1], "processors")
            gateway = f"--config={REPO / 'collector' / 'gateway.yaml'}"
            procs.append(("otelcol", devrun._start([str(devrun.OTELCOL), gateway], "otelcol", env)))
            devrun._wait_port(4317, procs[-1][1], "otelcol")
        pg = _postgres(procs)
        svc_env = {**env, **devrun._service_env(), "DOCS_ENABLED": "false"}
        db = {name: f"{pg}/{name}" if pg else f"sqlite:///{OUT / (name + '.sqlite')}" for name in ("divan", "ingest")}
        print(f"==> divan and ingest on {'PostgreSQL :' + str(PG_PORT) if pg else 'SQLite files in var/loadtests/'}")
        for name, port in devrun.SERVICES.items():
            extra = {"DATABASE_URL": db[name]} if name in db else {}
            procs.append((name, devrun._start([sys.executable, "-m", "uvicorn", "--factory",
                                               f"services.{name}.app:create_app", "--host", "127.0.0.1", "--port",
                                               str(port), "--log-level", "warning"], name, {**svc_env, **extra})))
        for name, port in devrun.SERVICES.items():
            devrun._wait_port(port, dict(procs)[name], name, timeout=60)
        secrets_env = {k: svc_env[k] for k in ("JWT_SECRET", "WHATSAPP_INGEST_TOKEN", "WHATSAPP_HMAC_SECRET",
                                               "OBS_ADMIN_TOKEN")}
        divan = f"http://127.0.0.1:{devrun.SERVICES['divan']}"
        chat_users = _env_int("CHAT_USERS", 20)
        rc, lines = _locust("chat-send", "chat_send.py", divan, ["-u", str(chat_users), "-t", f"{duration}s"],
                            secrets_env)
        verdicts.append((f"chat send (0 → {chat_users} users, {duration} s)", rc, lines))
        nearby_users, nearby_rps = _env_int("NEARBY_USERS", 10), _env_int("NEARBY_RPS", 50)
        rc, lines = _locust("proximity-nearby", "proximity_nearby.py", divan,
                            ["-u", str(nearby_users), "-r", str(nearby_users), "-t", f"{duration}s",
                             "--target-rps", str(nearby_rps)], secrets_env)
        verdicts.append((f"proximity nearby ({nearby_rps} rps target, {duration} s)", rc, lines))
        otlp_users, otlp_rps = _env_int("OTLP_USERS", 2), _env_int("OTLP_RPS", 10)
        rc, lines = _locust("otlp-pipeline", "otlp_pipeline.py", "127.0.0.1:4317",
                            ["-u", str(otlp_users), "-r", str(otlp_users), "-t", f"{duration}s",
                             "--target-rps", str(otlp_rps), "--sink-dir", str(sinks)], secrets_env)
        verdicts.append((f"otlp pipeline ({otlp_rps} requests/s per signal, {duration} s)", rc, lines))
        ingest = f"http://127.0.0.1:{devrun.SERVICES['ingest']}"
        argv = [sys.executable, "-m", "loadtests.whatsapp_harness", "load",
                "--url", f"{ingest}/integrations/whatsapp/ingest",
                "--diagnostics-url", f"{ingest}/chat/tools/diagnostics",
                "--count", str(_env_int("HARNESS_COUNT", 50)), "--batch-size", "10",
                "--report-file", str(OUT / "perf_baseline.json"), "--no-progress"]
        print(f"==> ingest harness: load {' '.join(argv[4:])}", flush=True)
        done = subprocess.run(argv, cwd=REPO, env={**os.environ, **secrets_env}, text=True, capture_output=True,
                              check=False)
        print("\n".join("    " + line for line in done.stdout.splitlines()), flush=True)
        if done.stderr.strip():
            (OUT / "harness.log").write_text(done.stderr)
        verdicts.append(("ingest harness (50 messages, batches of 10)", done.returncode,
                         [line for line in done.stdout.splitlines() if line.startswith(("ALERT", "  SLO"))]))
    except KeyboardInterrupt:
        print("\n==> interrupted")
        return 130
    except RuntimeError as exc:
        print(f"make load-local: {exc}", file=sys.stderr)
        return 1
    finally:
        for _name, p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
        for path in _CLEANUP:
            shutil.rmtree(path, ignore_errors=True)
        if procs:
            print(f"==> stopped {len(procs)} processes ({', '.join(n for n, _ in procs)})")
    print("==> verdicts")
    for name, rc, _ in verdicts:
        print(f"    {'PASS' if rc == 0 else 'FAIL'}  {name}")
    return 0 if verdicts and all(rc == 0 for _, rc, _ in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
