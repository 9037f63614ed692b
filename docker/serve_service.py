"""The services image's entrypoint: run one seed service with uvicorn, as `make run` does.

    serve_service.py ingest|session|divan

Listens on 0.0.0.0:$PORT (default 8000). The service reads everything else
from its own environment variables (its README and settings.py).
"""

from __future__ import annotations

import os
import sys

SERVICES = ("ingest", "session", "divan")


def argv_for(name: str, port: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.app:create_app",
            "--host", "0.0.0.0", "--port", port, "--no-server-header"]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in SERVICES:
        print(f"usage: serve_service.py {'|'.join(SERVICES)}", file=sys.stderr)
        return 2
    args = argv_for(argv[1], os.environ.get("PORT", "8000"))
    os.execv(args[0], args)  # uvicorn replaces this process, so the container's SIGTERM reaches it directly
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
