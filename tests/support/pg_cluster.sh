#!/usr/bin/env bash
# A private, throw-away PostgreSQL cluster for the test suite's second pass.
#
#   pg_cluster.sh start   # prints the SQLAlchemy URL of database sop_test on stdout
#   pg_cluster.sh stop    # stops the cluster and removes its files
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the
# `postgres` system user (created if missing). It lives in $SOP_TEST_PG_DIR
# (default /tmp/sop-test-pg: a path that user can reach, unlike /root), listens
# on 127.0.0.1 only, on the first free port from 55432, with its unix socket in
# the same directory. The test role may create databases (the migration test
# builds one from nothing). `start` first removes what a killed earlier run left.
# Durability is switched off: the data is thrown away anyway.
# The cross-host test runs it inside a network namespace with SOP_TEST_PG_LISTEN
# (the address to listen on, default 127.0.0.1) and SOP_TEST_PG_ALLOW (a CIDR whose
# clients may log in with the password; default: none beyond initdb's loopback).
set -euo pipefail

DIR=${SOP_TEST_PG_DIR:-/tmp/sop-test-pg}
DATA="$DIR/data"
LOG="$DIR/postgres.log"
DB=sop_test
ROLE=sop_test
PASSWORD=sop_test

say() { echo "$@" >&2; }

find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
    local candidate
    for candidate in /usr/lib/postgresql/15/bin \
            $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$candidate/initdb" ]]; then echo "$candidate"; return; fi
    done
    if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
        pg_config --bindir; return
    fi
    say "error: PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BIN"
    exit 1
}

BIN=$(find_pg_bin)

# Run a command as the cluster's owner, from a directory that user can enter.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

ensure_postgres_user() {
    [[ $(id -u) -eq 0 ]] || return 0
    id -u postgres >/dev/null 2>&1 && return 0
    say "==> creating system user postgres"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin postgres
}

free_port() {
    local port=${SOP_TEST_PG_PORT:-55432}
    while (( port < 55532 )); do
        # A connect that fails means nobody listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"; return
        fi
        port=$((port + 1))
    done
    say "error: no free port in 55432-55531"
    exit 1
}

stop_postmaster() {
    [[ -f "$DATA/postmaster.pid" ]] || return 0
    as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 >/dev/null 2>&1 && return 0
    # pg_ctl could not stop it (e.g. files half gone): stop the postmaster by its pid.
    local pid
    pid=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true
        sleep 1
    fi
}

stop_cluster() {
    # Retried: a run killed while its cluster was starting may still be creating files.
    local attempt
    for attempt in 1 2 3 4 5; do
        [[ -d "$DIR" ]] || return 0
        stop_postmaster
        rm -rf "$DIR" 2>/dev/null && return 0
        sleep 1
    done
    say "error: could not remove $DIR (is a postgres from another run still using it?)"
    exit 1
}

start_cluster() {
    stop_cluster  # whatever a killed earlier run left behind
    ensure_postgres_user
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$DIR"; fi

    local port
    port=$(free_port)
    say "==> starting a private PostgreSQL ($BIN) on ${SOP_TEST_PG_LISTEN:-127.0.0.1}:$port in $DIR"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --encoding=UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2; exit 1; }
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<CONF
listen_addresses = '${SOP_TEST_PG_LISTEN:-127.0.0.1}'
port = $port
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
# A client host that vanishes (link cut, machine lost) is noticed within ~20 s, and
# its session's advisory locks (the tick, a batch's sender) are released.
tcp_keepalives_idle = 5
tcp_keepalives_interval = 5
tcp_keepalives_count = 3
CONF
    if [[ -n "${SOP_TEST_PG_ALLOW:-}" ]]; then
        echo "host all all ${SOP_TEST_PG_ALLOW} scram-sha-256" | as_owner tee -a "$DATA/pg_hba.conf" >/dev/null
    fi
    as_owner "$BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 >/dev/null || {
        say "error: PostgreSQL did not start; its log:"; cat "$LOG" >&2 || true; exit 1; }

    as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$port" -U postgres \
        -d postgres >/dev/null <<SQL
CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
CREATE DATABASE $DB OWNER $ROLE;
SQL
    echo "postgresql+psycopg://$ROLE:$PASSWORD@${SOP_TEST_PG_LISTEN:-127.0.0.1}:$port/$DB"
}

restart_server() {  # the fault tests: every connection dropped, the same data after
    as_owner "$BIN/pg_ctl" restart -D "$DATA" -l "$LOG" -m fast -w -t 60 >/dev/null
}

case "${1:-}" in
    start) start_cluster ;;
    stop) stop_cluster ;;
    restart) restart_server ;;
    *) say "usage: $0 start|stop|restart"; exit 2 ;;
esac
