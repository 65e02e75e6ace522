# tests/hosts/services.sh - the database and the broker, served to the test
# hosts of tests/hosts/hosts.sh (sourced by bash, after tests/lib.sh and
# hosts.sh; call hosts_up first).
# shellcheck shell=bash
#
#   services_up DIR    the embedded PostgreSQL on HOSTS_DB_ADDR (db start
#                      --listen: hosts log in with a password as role
#                      bankstream) and a broker on HOSTS_KAFKA_ADDR: the
#                      embedded one (broker --listen), or Apache Kafka
#                      (scripts/kafka.sh start --listen) when BS_TEST_BROKER
#                      is kafka. Sets SVC_CONN (the conninfo hosts use),
#                      SVC_LOCAL_PG (postgres over loopback, no password),
#                      SVC_PGPORT, SVC_BROKERS, SVC_KIND, SVC_REGISTRY (the
#                      embedded broker's schema registry; empty with Kafka), and exports
#                      PGPASSFILE (the password file db start made).
#   services_down      stop them (idempotent; for an EXIT trap).
#   services_db NAME [init flags]  a new database NAME owned by role
#                      bankstream, initialized through SVC_CONN; prints its
#                      conninfo.

SVC_DIR=""
SVC_BROKER_PID=""

services_up() { # dir
    SVC_DIR=$1
    mkdir -p "$SVC_DIR"
    local try
    for try in 1 2 3; do # (free_port races with whatever else runs on this machine)
        SVC_PGPORT=$(free_port)
        SVC_CONN=$("$BANKSTREAM" db start --dir "$SVC_DIR/pg" --port "$SVC_PGPORT" --listen "$HOSTS_DB_ADDR" \
            2>"$SVC_DIR/db.err") && break
        grep -q "already in use" "$SVC_DIR/db.err" && [ "$try" -lt 3 ] && continue
        cat "$SVC_DIR/db.err" >&2
        return 1
    done
    export PGPASSFILE="$SVC_DIR/pg/pgpass"
    SVC_LOCAL_PG="host=127.0.0.1 port=$SVC_PGPORT dbname=postgres user=postgres"
    SVC_KIND=${BS_TEST_BROKER:-mock}
    SVC_REGISTRY=""
    local port
    port=$(free_port)
    if [ "$SVC_KIND" = kafka ]; then
        SVC_BROKERS=$("$BS_TEST_KAFKA_SH" start --dir "$SVC_DIR/kafka" --port "$port" --listen "$HOSTS_KAFKA_ADDR" \
            2>"$SVC_DIR/kafka.err" | tail -1) || { tail -5 "$SVC_DIR/kafka.err" >&2; return 1; }
    else
        local rport
        rport=$(free_port)
        "$BANKSTREAM" broker --listen "$HOSTS_KAFKA_ADDR" --port "$port" --registry-port "$rport" \
            >"$SVC_DIR/broker.out" 2>"$SVC_DIR/broker.err" &
        SVC_BROKER_PID=$!
        for _ in $(seq 50); do [ -s "$SVC_DIR/broker.out" ] && break; sleep 0.1; done
        SVC_BROKERS=$(head -1 "$SVC_DIR/broker.out")
        [ -n "$SVC_BROKERS" ] || { cat "$SVC_DIR/broker.err" >&2; return 1; }
        # shellcheck disable=SC2034 # read by the tests that source this file
        SVC_REGISTRY="http://$HOSTS_KAFKA_ADDR:$rport"
    fi
}

services_down() {
    [ -n "$SVC_DIR" ] || return 0
    if [ -n "$SVC_BROKER_PID" ]; then
        kill "$SVC_BROKER_PID" 2>/dev/null && wait "$SVC_BROKER_PID" 2>/dev/null
        SVC_BROKER_PID=""
    fi
    [ -f "$SVC_DIR/kafka/kafka.pid" ] && "$BS_TEST_KAFKA_SH" stop --dir "$SVC_DIR/kafka" >/dev/null 2>&1
    [ -d "$SVC_DIR/pg" ] && "$BANKSTREAM" db stop --dir "$SVC_DIR/pg" >/dev/null 2>&1
    SVC_DIR=""
    return 0
}

services_db() { # name [init flags...] -> conninfo
    local name=$1
    shift
    psql_q "$SVC_LOCAL_PG" "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1
    psql_q "$SVC_LOCAL_PG" "CREATE DATABASE $name OWNER bankstream" >/dev/null || return 1
    if [ $# -gt 0 ]; then
        "$BANKSTREAM" init --pg "${SVC_CONN/dbname=bank/dbname=$name}" "$@" >/dev/null || return 1
    fi
    echo "${SVC_CONN/dbname=bank/dbname=$name}"
}
