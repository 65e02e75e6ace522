#!/usr/bin/env bash
# tests/bench/faults.sh - a fault campaign (issue 12): at least FAULTS random
# faults while `bankstream run` processes COUNT messages, then every table
# compared with a fault-free run of the same topic. Not part of CI (it takes
# several minutes); `make bench` runs it, or `bash tests/bench/faults.sh`.
#
# Faults, drawn at random, one at a time while a run is going:
#   kill9-rank      kill -9 of one rank (mpirun then ends the job)
#   kill9-mpirun    kill -9 of mpirun
#   term            SIGTERM to mpirun (a clean stop)
#   usr1            SIGUSR1 to mpirun (a clean stop, as Slurm sends)
#   stop-rank       SIGSTOP of one rank for 3 s, then SIGCONT
#   pg-crash        PostgreSQL restarted in immediate mode (a crash)
#   pg-terminate    pg_terminate_backend of the processor's connections
#   second-run      a second processor on the same database: must be refused
#   init-force      `init --force` under the processor: must be refused
#   broker-kill9    kill -9 of the Kafka broker, restarted on its log (real Kafka)
#   broker-pause    the broker stopped for 10 s (real Kafka)
# The topic is produced first, in full (so that batches are cut by count
# only: --batch-ms 0, and the boundaries, hence the results, do not depend
# on timing); batches of 200 messages make the processing span many faults.
# The campaign's runs have no --until-idle: they end by a fault only, and
# stay up once the topic is drained (faults then meet an idle processor).
# After each fault the run goes on or has ended; an ended run is started
# again (1 to 3 ranks, at random), and the next fault waits until it holds
# the processor lock. Once FAULTS faults were injected, a last run drains
# the topic, and a fault-free run processes the same topic into a second
# database. The tables (tests/lib.sh dump_decisions) must be equal. A second
# processor is started with --until-idle: refused (naming the one that
# runs), or counted as a takeover from one that had lost its connection.
# Environment: FAULTS (100), FAULT_COUNT (200000 messages), FAULT_USERS
# (10000), FAULT_BROKER (kafka: a real broker of scripts/kafka.sh; mock: the
# embedded one, without the broker faults), FAULT_SEED (1), FAULT_BATCH (200).
set -euo pipefail
cd "$(dirname "$0")/../.."
FAULTS=${FAULTS:-100}
COUNT=${FAULT_COUNT:-200000}
USERS=${FAULT_USERS:-10000}
BROKER_KIND=${FAULT_BROKER:-kafka}
RANDOM=${FAULT_SEED:-1}
source tests/bench/lib.sh
bench_services
T=$BS_TEST_TMP/faults
mkdir -p "$T"

if [ "$BROKER_KIND" = kafka ]; then
    KPORT=$(free_port)
    scripts/kafka.sh start --dir "$T/kafka" --port "$KPORT" >"$T/kafka.out"
    BROKERS=$(tail -1 "$T/kafka.out")
    trap 'scripts/kafka.sh stop --dir "$T/kafka" >/dev/null 2>&1; bs_test_services_stop; rm -rf "$BS_TEST_TMP"' EXIT
else
    BROKERS=$BS_TEST_BROKERS
fi
TOPIC=$(new_topic faults)
REF=$(new_database fault_ref)
DB=$(new_database fault_run)
"$BANKSTREAM" init --pg "$REF" --users "$USERS" >/dev/null
"$BANKSTREAM" init --pg "$DB" --users "$USERS" >/dev/null
"$BANKSTREAM" produce --pg "$REF" --brokers "$BROKERS" --topic "$TOPIC" --count "$COUNT" \
    --rate 0 --seed 11 --start-time 1750000000000 --historic 0 --quiet
printf '[snapshot]\ndir = %s\nevery = 7\nmin_seconds = 0\n[source]\nwait_seconds = 120\n[sink]\nretry_seconds = 120\n' \
    "$T/snaps" >"$T/job.ini"
run_args=(run "$T/job.ini" --brokers "$BROKERS" --topic "$TOPIC" --batch-size "${FAULT_BATCH:-200}"
    --batch-ms 0 --quiet)

PGDATA=$BS_TEST_TMP/pg/data
pg_as() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
ranks() { pgrep -f "bankstream run $T/job.ini" | grep -v "^$$\$" || true; }

RUN_PID=
start_run() {
    local n=$((1 + RANDOM % 3))
    mpirun_bs "$n" "${run_args[@]}" --pg "$DB" >>"$T/runs.log" 2>&1 &
    RUN_PID=$!
    runs=$((runs + 1))
}
running() { [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; }
PGLOCK_KEY=$(sed -n 's/^#define PGLOCK_KEY \([0-9]*\).*/\1/p' include/pg/pglock.h)
holds_lock() { # a session holds the processor lock (include/pg/pglock.h) of DB
    # (its int8 key shows as classid = high half, objid = low half; the
    # slices' fence and prepared transactions' locks are other keys or no pid)
    [ "$(psql_q "$BS_TEST_PG" "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE d.datname = '$(db_name "$DB")' AND l.locktype = 'advisory' AND l.granted
          AND l.pid IS NOT NULL AND l.classid = $((PGLOCK_KEY >> 32))
          AND l.objid = $((PGLOCK_KEY & 0xffffffff))" 2>/dev/null)" != 0 ]
}
wait_owner() { # a fault is meant for a processor that has started: wait (60 s at most)
    local i
    for i in $(seq 600); do
        running || return 0
        holds_lock && return 0
        sleep 0.1
    done
}
wait_run() { # bounded wait for the current run to end; kill -9 what is left
    local i
    for i in $(seq 600); do running || break; sleep 0.1; done
    running && { kill -9 "$RUN_PID" $(ranks) 2>/dev/null || true; }
    wait "$RUN_PID" 2>/dev/null || true
    RUN_PID=
}

broker_restart() { # on its log; kafka.sh draws a new controller port each time, which
    # may be taken: try again
    local try
    for try in 1 2 3; do
        scripts/kafka.sh start --dir "$T/kafka" --port "$KPORT" >/dev/null && return 0
        sleep 2
    done
    fail "the Kafka broker did not start again (3 tries)"
}

kinds=(kill9-rank kill9-mpirun term usr1 stop-rank pg-crash pg-terminate second-run init-force)
[ "$BROKER_KIND" = kafka ] && kinds+=(broker-kill9 broker-pause)
declare -A done_kinds=()
runs=0 injected=0 refused_second=0 refused_init=0 takeovers=0 reinits=0
echo "== $FAULTS faults while $COUNT messages are processed"
t0=$SECONDS
while [ "$injected" -lt "$FAULTS" ]; do
    running || start_run
    wait_owner
    sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
    kind=${kinds[$((RANDOM % ${#kinds[@]}))]}
    case $kind in
    kill9-rank)
        r=($(ranks))
        [ ${#r[@]} -gt 0 ] && kill -9 "${r[$((RANDOM % ${#r[@]}))]}" 2>/dev/null || true
        wait_run ;;
    kill9-mpirun) kill -9 "$RUN_PID" 2>/dev/null || true; sleep 1; kill -9 $(ranks) 2>/dev/null || true
        wait_run ;;
    term) kill -TERM "$RUN_PID" 2>/dev/null || true; wait_run ;;
    usr1) kill -USR1 "$RUN_PID" 2>/dev/null || true; wait_run ;;
    stop-rank)
        r=($(ranks))
        if [ ${#r[@]} -gt 0 ]; then
            p=${r[$((RANDOM % ${#r[@]}))]}
            kill -STOP "$p" 2>/dev/null || true; sleep 3; kill -CONT "$p" 2>/dev/null || true
        fi ;;
    pg-crash) pg_as "/usr/lib/postgresql/15/bin/pg_ctl -D '$PGDATA' -m immediate -w restart" \
        >/dev/null 2>&1 || true ;;
    pg-terminate) psql_q "$BS_TEST_PG" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = '$(db_name "$DB")' AND pid <> pg_backend_pid()" >/dev/null || true ;;
    second-run)
        if running; then
            rc=0
            out=$(timeout 60 "$BANKSTREAM" "${run_args[@]}" --pg "$DB" --until-idle 2>&1) || rc=$?
            case $out in
            *"only one processor may run per database"*) refused_second=$((refused_second + 1)) ;;
            *) # the first had lost its connection (and so the lock) to a
                # database fault: the second may take over; the first must
                # then stop, and the tables at the end say whether anything
                # was lost or doubled
                takeovers=$((takeovers + 1))
                echo "   a second processor was not refused (exit $rc): ${out:0:200}" ;;
            esac
        fi ;;
    init-force)
        if running; then
            held=no
            holds_lock && held=yes
            if timeout 60 "$BANKSTREAM" init --pg "$DB" --users "$USERS" --force \
                >"$T/init.out" 2>&1; then
                # the processor lock was free: the run was still starting,
                # reconnecting or ending; the run must then notice (database
                # id) and stop, and the tables at the end say the rest
                echo "   init --force was not refused (lock held just before: $held); the run's last lines:"
                tail -3 "$T/runs.log" | sed 's/^/     /'
                [ "$held" = no ] || fail "init --force ran while the processor lock was held"
                reinits=$((reinits + 1))
            else
                refused_init=$((refused_init + 1))
            fi
        fi ;;
    broker-kill9)
        kill -9 "$(cat "$T/kafka/kafka.pid")" 2>/dev/null || true; sleep 2
        broker_restart ;;
    broker-pause)
        scripts/kafka.sh stop --dir "$T/kafka" >/dev/null; sleep 10
        broker_restart ;;
    esac
    injected=$((injected + 1))
    done_kinds[$kind]=$((${done_kinds[$kind]:-0} + 1))
done
wait_run
echo "   $injected faults in $((SECONDS - t0)) s, $runs runs started"
for k in "${!done_kinds[@]}"; do echo "   $k ${done_kinds[$k]}"; done | sort

echo "== a last run drains the topic"
mpirun_bs 2 "${run_args[@]}" --pg "$DB" --until-idle >>"$T/runs.log" 2>&1 ||
    { tail "$T/runs.log"; fail "the last run failed"; }

echo "== reference: a fault-free run of the same topic"
t1=$SECONDS
mpirun_bs 2 "${run_args[@]}" --pg "$REF" --snapshot-dir none --until-idle >"$T/ref.log" 2>&1 ||
    { tail "$T/ref.log"; fail "the reference run failed"; }
echo "   $((SECONDS - t1)) s"

dump_decisions "$REF" "$T/ref.dump"
dump_decisions "$DB" "$T/run.dump"
if diff_dumps "fault campaign" "$T/ref.dump" "$T/run.dump"; then
    rows=$(psql_q "$DB" "SELECT count(*) FROM transacoes")
    echo "identical: every table equals the fault-free run's ($rows transactions, $injected faults," \
        "$runs runs, second processors refused $refused_second (taking over from one that had lost its" \
        "connection: $takeovers), init --force refused $refused_init (ran while no session held" \
        "the lock: $reinits))"
else
    fail "the tables differ from the fault-free run"
fi
