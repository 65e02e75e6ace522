#!/usr/bin/env bash
# 74-lock.sh - one processor per database (issue 12.1, 12.5):
#   1. a second `run` on the same database (same topic or another) is
#      refused with one line naming the holder; so are `init` and
#      `init --force` while a processor runs, changing nothing;
#   2. a database whose identity changes under a running processor (as a
#      re-init would) stops it at its next batch, which is not committed;
#   3. a database dropped, re-created and initialized under a running
#      processor: it reconnects, sees another database and stops;
#   4. a retry decides "committed" by the batch's identity: while the
#      processor's batch transaction waits, its backend is terminated and
#      another batch is committed under the same id; the processor must
#      stop saying so (before: it took that batch for its own and went on);
#      after removing that batch, a run completes with every offset once;
#   5. the killed-connection race: a processor's backend is terminated
#      between batches, a second processor starts and commits; the first
#      must not commit (it stops naming the second); every offset once.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

USERS=500
BATCH=200
work=$(mktemp -d /tmp/bs-test-lock.XXXXXX)
chmod 755 "$work"
topic=$(new_topic lock)
dbs=()
pids=()
dbname() { sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$1"; }
cleanup() {
    local rc=$? p
    set +e
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || continue
        for c in $(pgrep -P "$p"); do kill -9 "$c"; done
        kill -9 "$p"
    done
    for p in $(pgrep -f -- "--topic $topic " || true); do kill -9 "$p"; done
    for d in "${dbs[@]}"; do
        psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $(dbname "$d") WITH (FORCE)" >/dev/null 2>&1
    done
    if [ "$rc" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM
fresh_db() { # name -> an initialized database
    local d
    d=$(new_database "$1")
    dbs+=("$d")
    "$BANKSTREAM" init --pg "$d" --users "$USERS" >/dev/null
    echo "$d"
}
q() { psql_q "$1" "$2"; }
printf '[sink]\nretry_seconds = 30\n' >"$work/job.ini"
produce() { # seed count
    "$BANKSTREAM" produce --pg "$gen" --brokers "$BS_TEST_BROKERS" --topic "$topic" --rate 0 \
        --historic 0 --quiet --seed "$1" --count "$2" --start-time $((1750000000000 + $1 * 100000))
}
# A background `run` (no --until-idle); sets run_pid and run_log.
start_run() { # db np [topic]
    run_log="$work/run$((${#pids[@]} + 1)).log"
    mpirun_bs "$2" run "$work/job.ini" --pg "$1" --brokers "$BS_TEST_BROKERS" --topic "${3:-$topic}" \
        --batch-size "$BATCH" --batch-ms 0 --snapshot-dir none >"$run_log" 2>&1 &
    run_pid=$!
    pids+=("$run_pid")
}
wait_for() { # seconds what condition...
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    fail "$what: not within $limit s"
}
total() { kcat -b "$BS_TEST_BROKERS" -C -t "$topic" -e -q -f 'x\n' | wc -l; }
consumed() { # db n -> true once batch_log holds n messages
    [ "$(q "$1" "SELECT coalesce(sum(n_mensagens), 0) FROM batch_log")" -ge "$2" ]
}
ended() { ! kill -0 "$1" 2>/dev/null; }
exit_of() { # pid -> its exit status (it has ended)
    local rc=0
    wait "$1" || rc=$?
    echo "$rc"
}
sink_pid() { # db -> the backend pid of the processor's sink, if any
    q "$1" "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
             AND application_name = 'bankstream run $topic' ORDER BY backend_start DESC LIMIT 1"
}
sink_waits() { # db [not-pid] -> true when the sink's backend (not that pid) waits for a lock
    [ -n "$(q "$1" "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                     AND application_name LIKE 'bankstream%' AND wait_event_type = 'Lock'
                     AND pid <> ${2:-0}")" ]
}
every_offset_once() { # db -> fails unless the tables hold each offset of the topic once
    kcat -b "$BS_TEST_BROKERS" -C -t "$topic" -e -q -f '%p %o\n' | sort -n -k1,1 -k2,2 >"$work/offsets.kcat"
    q "$1" "SELECT kafka_particao || ' ' || kafka_offset FROM transacoes UNION ALL
            SELECT kafka_particao || ' ' || kafka_offset FROM transacoes_duplicadas UNION ALL
            SELECT kafka_particao || ' ' || kafka_offset FROM dead_letters" |
        sort -n -k1,1 -k2,2 >"$work/offsets.db"
    cmp -s "$work/offsets.db" "$work/offsets.kcat" ||
        fail "the tables do not hold every offset once: $(diff "$work/offsets.db" "$work/offsets.kcat" | head -5)"
    assert_eq "$(q "$1" "SELECT count(*) FROM batch_log b JOIN batch_log p ON p.batch_id = b.batch_id - 1
                          WHERE b.start_offsets <> p.end_offsets")" 0 "batches chain"
}
finish() { # db -> run to the end of the topic
    mpirun_bs 1 run "$work/job.ini" --pg "$1" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --batch-size "$BATCH" --batch-ms 0 --snapshot-dir none --until-idle >"$work/finish.log" 2>&1 ||
        { cat "$work/finish.log"; fail "a run to the end failed"; }
}
gen=$(fresh_db lockgen)
produce 1 2000

# ---------------------------------------------- 1. second run, init refused
db=$(fresh_db lock1)
start_run "$db" 2
a=$run_pid
wait_for 60 "the first processor consumed the topic" consumed "$db" "$(total)"
rows() { q "$db" "SELECT (SELECT count(*) FROM transacoes) || ' ' || (SELECT count(*) FROM batch_log) || ' '
                         || (SELECT string_agg(chave || valor, ',' ORDER BY chave) FROM bankstream_meta)"; }
before=$(rows)
for t in "$topic" "${topic}_other"; do
    rc=0; err=$(mpirun_bs 1 run --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$t" \
        --snapshot-dir none --until-idle 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "a second run on topic $t exited 0"
    line=$(grep "bankstream run: error:" <<<"$err") || fail "no error line: $err"
    assert_eq "$(wc -l <<<"$line")" 1 "one error line"
    assert_contains "$line" "is in use by 'bankstream run $topic' (topic $topic; PostgreSQL backend pid" \
        "the second run ($t) names the holder"
    assert_contains "$line" "only one processor may run per database" "and says why"
    [[ "$err" != *"restored state"* ]] || fail "the refused run restored state"
done
for args in "--users $USERS" "--users $USERS --force" "--users 7 --force"; do
    rc=0; err=$("$BANKSTREAM" init --pg "$db" $args 2>&1 >/dev/null) || rc=$?
    assert_eq "$rc" 1 "exit status of init $args while a processor runs"
    assert_contains "$err" "is in use by 'bankstream run $topic'" "init $args names the processor"
    assert_contains "$err" "stop it before 'bankstream init' (nothing was changed)" "init $args refused"
done
assert_eq "$(rows)" "$before" "nothing changed by the refused commands"
ended "$a" && fail "the first processor ended: $(tail -3 "$run_log")"

# ------------------------------- 2. the database's identity changes under it
batches=$(q "$db" "SELECT count(*) FROM batch_log")
q "$db" "UPDATE bankstream_meta SET valor = gen_random_uuid()::text WHERE chave = 'database_id'" >/dev/null
produce 2 300
wait_for 60 "the processor stopped" ended "$a"
[ "$(exit_of "$a")" -ne 0 ] || fail "the processor exited 0 on a re-initialized database"
assert_contains "$(cat "$run_log")" "was re-initialized while this processor ran" "it says why"
assert_eq "$(q "$db" "SELECT count(*) FROM batch_log")" "$batches" "no batch committed into the changed database"
finish "$db"
every_offset_once "$db"

# ------------------------- 3. dropped, re-created and initialized under it
db=$(fresh_db lock3)
start_run "$db" 2
a=$run_pid
wait_for 60 "the processor consumed the topic" consumed "$db" "$(total)"
psql_q "$BS_TEST_PG" "DROP DATABASE $(dbname "$db") WITH (FORCE)" >/dev/null
psql_q "$BS_TEST_PG" "CREATE DATABASE $(dbname "$db")" >/dev/null
"$BANKSTREAM" init --pg "$db" --users "$USERS" >/dev/null || fail "init of the re-created database"
produce 3 300
wait_for 60 "the processor stopped" ended "$a"
[ "$(exit_of "$a")" -ne 0 ] || fail "the processor exited 0 after its database was re-created"
assert_contains "$(cat "$run_log")" "the database was re-initialized while this processor ran" "it says why"
assert_eq "$(q "$db" "SELECT count(*) FROM batch_log")" 0 "nothing committed into the new database"

# ------------------- 4. a retry meets another batch under its batch's id
db=$(fresh_db lock4)
start_run "$db" 2
a=$run_pid
wait_for 60 "the processor consumed the topic" consumed "$db" "$(total)"
n=$(q "$db" "SELECT max(batch_id) FROM batch_log")
ends=$(q "$db" "SELECT end_offsets FROM batch_log WHERE batch_id = $n")
# A session that holds batch_log and bankstream_meta (the batch transaction
# waits), then, once told, commits a batch of its own under id n+1.
psql "$db application_name=bs_lock_locker" -XAtq -v ON_ERROR_STOP=1 \
    -c "BEGIN" -c "LOCK TABLE batch_log IN SHARE MODE" \
    -c "LOCK TABLE bankstream_meta IN ACCESS EXCLUSIVE MODE" \
    -c "DO \$\$ BEGIN WHILE pg_stat_file('$work/go', true) IS NULL LOOP PERFORM pg_sleep(0.02); END LOOP; END \$\$" \
    -c "INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets, n_mensagens, n_aprovadas,
            n_rejeitadas, n_nao_processadas, n_dead_letters, ranks)
        VALUES ($((n + 1)), '$topic', '$ends', '$ends', 0, 0, 0, 0, 0, 1)" \
    -c "COMMIT" >"$work/locker.log" 2>&1 &
locker=$!
pids+=("$locker")
locked() {
    [ "$(q "$db" "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                   WHERE a.application_name = 'bs_lock_locker' AND l.granted AND l.locktype = 'relation'
                     AND l.relation IN ('batch_log'::regclass, 'bankstream_meta'::regclass)")" -eq 2 ]
}
wait_for 30 "the locker holds its locks" locked
produce 4 300
wait_for 60 "the batch transaction waits" sink_waits "$db"
victim=$(q "$db" "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                   AND application_name LIKE 'bankstream%' AND wait_event_type = 'Lock'")
q "$db" "SELECT pg_terminate_backend($victim)" >/dev/null
wait_for 60 "the reconnected session waits" sink_waits "$db" "$victim"
touch "$work/go"
wait "$locker" || fail "the locker failed: $(cat "$work/locker.log")"
wait_for 60 "the processor stopped" ended "$a"
[ "$(exit_of "$a")" -ne 0 ] || fail "the processor exited 0 over another batch under its id"
assert_contains "$(cat "$run_log")" "batch_log holds another batch under id $((n + 1))" "it names the conflict"
assert_eq "$(q "$db" "SELECT count(*) FROM transacoes WHERE batch_id > $n")" 0 "its batch was not committed"
q "$db" "DELETE FROM batch_log WHERE batch_id = $((n + 1))" >/dev/null
finish "$db"
every_offset_once "$db"

# -------------------------------- 5. the killed-connection race
db=$(fresh_db lock5)
start_run "$db" 2
a=$run_pid
a_log=$run_log
wait_for 60 "the first processor consumed the topic" consumed "$db" "$(total)"
victim=$(sink_pid "$db")
[ -n "$victim" ] || fail "no sink session"
q "$db" "SELECT pg_terminate_backend($victim)" >/dev/null
start_run "$db" 1
b=$run_pid
wait_for 60 "the second processor started" grep -q "consuming $topic" "$run_log"
produce 5 400
wait_for 60 "the first processor stopped" ended "$a"
[ "$(exit_of "$a")" -ne 0 ] || fail "the first processor exited 0 after another one took its database"
assert_contains "$(cat "$a_log")" "another processor took the database while this one was reconnecting" \
    "the first processor names why it stops"
assert_contains "$(cat "$a_log")" "is in use by 'bankstream run $topic'" "and who holds the database"
wait_for 60 "the second processor consumed the topic" consumed "$db" "$(total)"
pkill -USR1 -P "$b" -x mpirun || kill -USR1 "$b"
wait_for 60 "the second processor stopped" ended "$b"
assert_eq "$(exit_of "$b")" 0 "the second processor's exit status"
finish "$db"
every_offset_once "$db"
echo "ok"
