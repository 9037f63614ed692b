"""A RabbitMQ broker of this machine's own, for ``make run`` and the tests.

There is no systemd here, so the broker (Debian's ``rabbitmq-server``) is
started by hand, bound to 127.0.0.1, with everything its own: node name, data
(mnesia) and log directories, config file, Erlang cookie, and the AMQP,
Erlang-distribution and epmd ports. Its epmd is started first, in the
foreground, so that whoever started it stops it by PID (a broker left to
itself would spawn an ``epmd -daemon`` nobody owns).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

RABBITMQ_CANDIDATES = ("rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server")
EPMD_CANDIDATES = ("epmd", "/usr/bin/epmd")


def _find(candidates: tuple[str, ...]) -> str | None:
    for cand in candidates:
        found = shutil.which(cand) or (cand if os.path.isabs(cand) and os.access(cand, os.X_OK) else None)
        if found:
            # Debian's /usr/sbin wrapper switches to the rabbitmq user; the real script runs as anyone.
            return "/usr/lib/rabbitmq/bin/rabbitmq-server" if found == "/usr/sbin/rabbitmq-server" and \
                os.access("/usr/lib/rabbitmq/bin/rabbitmq-server", os.X_OK) else found
    return None


def rabbitmq_server_path() -> str | None:
    return _find(RABBITMQ_CANDIDATES)


def epmd_path() -> str | None:
    return _find(EPMD_CANDIDATES)


def broker_env(base: Path, amqp_port: int, dist_port: int, epmd_port: int) -> dict[str, str]:
    """Write the broker's config under ``base`` and return its environment."""
    base.mkdir(parents=True, exist_ok=True)
    config = base / "rabbitmq.conf"
    config.write_text(f"listeners.tcp.default = 127.0.0.1:{amqp_port}\n"
                      "loopback_users.guest = true\n"
                      "log.console = true\nlog.console.level = warning\nlog.file = false\n")
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")
    home = base / "home"
    home.mkdir(exist_ok=True)
    cookie = home / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
    return {
        "HOME": str(home),
        "RABBITMQ_NODENAME": f"otelpipe-{amqp_port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        "RABBITMQ_FEATURE_FLAGS_FILE": str(base / "feature_flags"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins-expand"),
        "ERL_CRASH_DUMP": str(base / "erl_crash.dump"),
    }


def epmd_argv(epmd: str, epmd_port: int) -> list[str]:
    return [epmd, "-port", str(epmd_port), "-address", "127.0.0.1"]
