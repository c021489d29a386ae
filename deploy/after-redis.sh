#!/usr/bin/env bash
# Runs a program (supervisord's workers and `rq cron`) once Redis answers: supervisord
# starts programs in priority order without waiting for the embedded Redis to open its
# socket, so a worker started first logged a connection error and restarted.
#   deploy/after-redis.sh COMMAND [ARGS...]   (REDIS_URL names the Redis; 60 s at most)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/.venv/bin/python" - <<'PY'
import os, sys, time
from redis import Redis

conn, deadline = Redis.from_url(os.environ["REDIS_URL"]), time.monotonic() + 60
while True:
    try:
        conn.ping()
        break
    except Exception as exc:  # not up yet: no socket, refused, loading
        if time.monotonic() > deadline:
            sys.exit(f"Redis at {os.environ['REDIS_URL']} did not answer within 60 s: {exc}")
        time.sleep(0.2)
PY
exec "$@"
