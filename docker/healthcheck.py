"""The images' HEALTHCHECK: exit 0 when the process in this container is healthy, 1 otherwise.

    python healthcheck.py grpc   grpc.health.v1 Check (overall server, service "") on OTELPROC_HEALTH_TARGET
                                 (default 127.0.0.1:24317, the processors' OTLP port)
    python healthcheck.py http   GET http://127.0.0.1:$PORT$HEALTH_PATH (default /health/ready) answers 200

It runs inside the container (Docker's HEALTHCHECK, compose's healthcheck), so
it needs nothing the image lacks: no curl, no grpc_health_probe binary.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def grpc_check(target: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
        except grpc.RpcError as exc:
            print(f"grpc health {target}: {exc.code().name}", file=sys.stderr)
            return False
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    if not serving:
        print(f"grpc health {target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}",
              file=sys.stderr)
    return serving


def http_check(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"http health {url}: {exc}", file=sys.stderr)
        return False


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "grpc":
        ok = grpc_check(os.environ.get("OTELPROC_HEALTH_TARGET", "127.0.0.1:24317"))
    elif mode == "http":
        port = os.environ.get("PORT", "8000")
        ok = http_check(f"http://127.0.0.1:{port}{os.environ.get('HEALTH_PATH', '/health/ready')}")
    else:
        print("usage: healthcheck.py grpc|http", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
