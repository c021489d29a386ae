#!/usr/bin/env bash
# supervisord for one production host, in the foreground (run it from systemd, see
# systemd/sop-supervisord.service, or from a terminal):
#   deploy/production/supervisord.sh [ENV_FILE]     default /etc/sop/sop.env
# Reads the env file, then runs supervisord.conf: web, send workers, engine
# workers and a scheduler. Control it with:
#   deploy/production/supervisord.sh ENV_FILE ctl status|stop worker-send:*|...
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_FILE="${1:-/etc/sop/sop.env}"
# shellcheck source=env.sh
. "$HERE/env.sh"
load_env "$ENV_FILE"
export SOP_ROOT="${SOP_ROOT:-$(cd "$HERE/../.." && pwd)}"
export SOP_VAR="${SOP_VAR:-/var/lib/sop/supervisor}"
export SOP_SEND_WORKERS="${SOP_SEND_WORKERS:-2}" SOP_ENGINE_WORKERS="${SOP_ENGINE_WORKERS:-1}"
mkdir -p "$SOP_VAR/log" "${SOP_INSTANCE:-$SOP_VAR}"
if [ "${2:-}" = ctl ]; then
  shift 2
  exec "$SOP_ROOT/.venv/bin/supervisorctl" -c "$HERE/supervisord.conf" "$@"
fi
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then  # counters of the previous run are stale
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi
exec "$SOP_ROOT/.venv/bin/supervisord" -n -c "$HERE/supervisord.conf"
