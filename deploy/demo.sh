#!/usr/bin/env bash
# Run the product with demo data (what `make demo` calls once .venv exists).
#   deploy/demo.sh [start]   migrate, load the demo, start supervisord in the background
#                            (restarts it when already running) and print where to log in
#   deploy/demo.sh run       the same, but supervisord stays in the foreground
#   deploy/demo.sh stop      stop every program and supervisord
#   deploy/demo.sh status    show the programs
# Environment (deploy/env.example): DATABASE_URL, REDIS_URL, SECRET_KEY, SOP_INSTANCE,
# SOP_TIMEZONE, UPLOAD_FOLDER, SOP_BIND, SOP_WEB_WORKERS, SOP_RQ_WORKERS, SOP_SEND_WORKERS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
CONF="$ROOT/deploy/supervisord.conf"
PIDFILE="$ROOT/var/supervisord.pid"
[ -x "$VENV/bin/python" ] || { echo "no virtualenv at $VENV (run: make venv)" >&2; exit 1; }

export SOP_INSTANCE="${SOP_INSTANCE:-$ROOT/instance}"
export SOP_BIND="${SOP_BIND:-127.0.0.1:5000}"
export SOP_WEB_WORKERS="${SOP_WEB_WORKERS:-2}"
export SOP_RQ_WORKERS="${SOP_RQ_WORKERS:-2}"
export SOP_SEND_WORKERS="${SOP_SEND_WORKERS:-2}"
# The queues are declared once, in jobs/queues.py; `send` has workers of its own.
SOP_QUEUES="$("$VENV/bin/python" -c 'from jobs.queues import FORKING_QUEUES; print(*FORKING_QUEUES)')"
export SOP_QUEUES
if [ -z "${REDIS_URL:-}" ]; then
  # No Redis given: supervisord runs a private one (deploy/redis-embedded.sh).
  export SOP_REDIS_EMBEDDED=true
  export REDIS_URL="unix://$ROOT/var/redis/redis.sock"
else
  export SOP_REDIS_EMBEDDED=false
fi
export RQ_REDIS_URL="$REDIS_URL"  # the `rq` commands read this one
mkdir -p "$ROOT/var/log" "$ROOT/var/redis" "$SOP_INSTANCE"

flask() { "$VENV/bin/flask" --app app "$@"; }
ctl() { "$VENV/bin/supervisorctl" -c "$CONF" "$@"; }
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

stop() {
  if ! running; then
    echo "not running"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  if ! ctl shutdown >/dev/null 2>&1; then
    echo "no supervisord answers on var/supervisor.sock; removing the stale $PIDFILE"
    rm -f "$PIDFILE"
    return 0
  fi
  echo "stopping supervisord (pid $pid); workers finish their current job first"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
  echo "stopped"
}

# Wait until the login page answers and a worker has registered with Redis.
wait_ready() {
  "$VENV/bin/python" - "$SOP_BIND" <<'PY'
import os, sys, time, urllib.request
from redis import Redis
from rq import Worker

url, deadline = f"http://{sys.argv[1]}/login", time.monotonic() + 60
conn = Redis.from_url(os.environ["REDIS_URL"])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            web = resp.status == 200
        if web and Worker.count(connection=conn) > 0:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit("the web page or the workers did not come up within 60 s; "
         "see var/log/, then: deploy/demo.sh stop")
PY
}

usage() { echo "usage: deploy/demo.sh [start|run|stop|status]" >&2; exit 2; }

command="${1:-start}"
case "$command" in
  stop) stop; exit 0 ;;
  status) ctl status; exit $? ;;
  start|run) ;;
  *) usage ;;
esac

if running; then stop; fi  # a restart picks up new code and environment
# Prometheus multiprocess mode (jobs/metrics.py): every web and worker process writes
# its counters here; files left by a previous run would be added up again.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$ROOT/var/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
flask db upgrade
if [ "$command" = run ]; then
  flask seed demo  # its last lines are the logins
else
  flask seed demo --no-logins  # printed once, below, when everything is up
fi

if [ "$command" = run ]; then
  echo "supervisord in the foreground; the admin is at http://$SOP_BIND/admin/ (Ctrl-C stops)"
  exec "$VENV/bin/supervisord" -n -c "$CONF"
fi

"$VENV/bin/supervisord" -c "$CONF"
wait_ready
ctl status || true  # non-zero when a program is deliberately stopped (redis with REDIS_URL)
echo
echo "The customer SOP engine is running: http://$SOP_BIND/admin/"
"$VENV/bin/python" -c 'from seed.demo import login_lines; print("\n".join(login_lines()))'
echo "Logs: var/log/   Stop: deploy/demo.sh stop"
