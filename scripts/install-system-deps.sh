#!/usr/bin/env bash
# Installs the servers the test suite starts (each on a free loopback port):
# redis-server, PostgreSQL, Prometheus with promtool, Alertmanager with amtool,
# RabbitMQ (rabbitmq-server, the outbound service's broker).
# As root it uses apt-get, elsewhere `sudo -n apt-get`; with neither it prints
# the exact command to run and fails, so that no test is quietly left out.
# Idempotent and quick when everything is there. The packages' own system
# services are stopped: the tests start their own instances.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
{ command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ]; } || need+=(rabbitmq-server)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  apt=(sudo -n apt-get)
else
  echo "system packages missing: ${need[*]}" >&2
  echo "install them (as root), then run make test again:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "system packages missing: ${need[*]}; this machine has no apt-get: install them with its package manager" >&2
  exit 1
fi

echo "==> system packages: ${need[*]} (apt-get, about a minute)"
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for svc in redis-server postgresql prometheus prometheus-alertmanager rabbitmq-server; do
  systemctl stop "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
