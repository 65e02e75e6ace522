#!/usr/bin/env bash
# 77-slices.sh - a batch committed through several connections ([sink]
# connections = N: one transaction per slice of payers, made one by
# two-phase commit, see src/stream/sink_pg.c) keeps exactly-once:
#   1. connections = 1, 2 and 3 give the same tables, row for row;
#   2. kill -9 of rank 0 with every slice of a batch prepared and the batch
#      not decided (BANKSTREAM_TEST_SINK_PAUSE=prepared:N): the prepared
#      transactions are there, batch_log lacks the batch; the next run rolls
#      them back and completes; tables equal the reference (before it, a
#      `--sink none` run, which resolves nothing, refuses to start);
#   3. kill -9 after the decision (batch_log committed) and before any
#      COMMIT PREPARED (decided:N): batch_log holds the batch, its slices'
#      rows are not visible yet; `bankstream init` (run again, as an
#      operator would) commits them; then run completes; equal tables;
#   4. the same kill, restarted with connections = 1: the run itself
#      commits the slices it finds;
#   5. the slices' sessions terminated by the server mid-run: the run
#      retries and completes; equal tables;
#   6. an INSERT trigger that upserts one summary row from every slice (the
#      slices would wait on each other for ever): the sink sees it, says so
#      and goes on through one connection; equal tables, the summary exact;
#   7. a server with max_prepared_transactions = 0: connections = 3 fails at
#      once with a line naming the setting and the fix.
# After every run: no prepared transaction left (pg_prepared_xacts).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

USERS=3000
BATCH=2000
DEAD_WAIT=10

work=$(mktemp -d /tmp/bs-test-slices.XXXXXX)
chmod 755 "$work"
run_pid=""
pg2=""
cleanup() {
    local rc=$?
    set +e
    if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
        for p in $(pgrep -P "$run_pid"); do kill -9 "$p"; done
        kill -9 "$run_pid"
    fi
    for p in $(pgrep -f -- "--topic $topic " || true); do kill -9 "$p"; done
    [ -n "$pg2" ] && "$BANKSTREAM" db stop --dir "$pg2" >/dev/null 2>&1
    # Prepared transactions outlive their sessions and would keep DROP
    # DATABASE waiting: a failed scenario's are rolled back here.
    for d in $(test_databases 2>/dev/null); do
        for g in $(psql_q "${BS_TEST_PG/dbname=postgres/dbname=$d}" \
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()" 2>/dev/null); do
            psql_q "${BS_TEST_PG/dbname=postgres/dbname=$d}" "ROLLBACK PREPARED '$g'" >/dev/null 2>&1
        done
    done
    drop_databases
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "run logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

scenario="setup"
t_start=$SECONDS
say() { echo "[$scenario] $*"; }
die() {
    echo "FAILED in scenario '$scenario': $*" >&2
    for f in $(ls -t "$work"/*.err 2>/dev/null | head -2); do
        echo "--- $(basename "$f") (tail)" >&2
        tail -8 "$f" >&2
    done
    exit 1
}
q() { psql_q "$1" "$2"; }

# ------------------------------------------------------------------ the topic
# 30000 transactions, then duplicates of some and malformed messages, so that
# batches carry rows for every slice and for the sink's own session.
topic=$(new_topic slices)
gen_db=$(new_database sl_gen --users "$USERS")
"$BANKSTREAM" produce --pg "$gen_db" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
    --rate 0 --historic 0 --quiet --count 30000 --seed 21 --start-time 1750000000000
"$BANKSTREAM" produce --pg "$gen_db" --output - --count 30000 --seed 21 \
    --start-time 1750000000000 --historic 0 --rate 0 --quiet | awk 'NR % 173 == 5' |
    kcat -b "$BS_TEST_BROKERS" -t "$topic" -P -K $'\t'
for p in 0 1 2 3; do
    printf '%s\n' "not json $p" '{"id_transacao": 1}' | kcat -b "$BS_TEST_BROKERS" -t "$topic" -P -p "$p"
done

job() { # connections -> a job file
    printf '[sink]\nretry_seconds = 30\nconnections = %s\n' "$1" >"$work/job$1.ini"
    echo "$work/job$1.ini"
}
runs=0
start_run() { # db np connections [env assignments...]
    local db=$1 np=$2 conns=$3
    shift 3
    runs=$((runs + 1))
    run_log="$work/$runs.$scenario.c$conns"
    env "$@" "${BS_MPIRUN[@]}" -np "$np" -wdir "$BS_TEST_TMP" \
        "$BANKSTREAM" run "$(job "$conns")" --pg "$db" --brokers "$BS_TEST_BROKERS" \
        --topic "$topic" --batch-size "$BATCH" --batch-ms 0 --snapshot-dir none --until-idle \
        >"$run_log.out" 2>"$run_log.err" &
    run_pid=$!
}
wait_run() { # limit_seconds -> run_rc
    local i
    for ((i = 0; i < $1 * 20; i++)); do
        kill -0 "$run_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$run_pid" 2>/dev/null && die "mpirun did not end within $1 s"
    run_rc=0
    wait "$run_pid" || run_rc=$?
    run_pid=""
}
run_to_end() { # db np connections
    start_run "$@"
    wait_run 120
    [ "$run_rc" -eq 0 ] || die "run with connections = $3 exited $run_rc ($(tail -1 "$run_log.err"))"
}
rank0_pid() { # db -> pid of rank 0 of the run against db
    local p
    for p in $(pgrep -f -- "dbname=$(db_name "$1") " || true); do
        grep -qxz "OMPI_COMM_WORLD_RANK=0" "/proc/$p/environ" 2>/dev/null && echo "$p"
    done
    return 0
}
kill_rank0() { # db
    local p
    p=$(rank0_pid "$1" | head -1)
    [ -n "$p" ] || die "no rank 0 to kill"
    kill -9 "$p"
    wait_run "$DEAD_WAIT"
    [ "$run_rc" -ne 0 ] || die "mpirun exited 0 after rank 0 was killed"
}
wait_paused() { # what: the hook's line on the run's stderr
    wait_sink_paused "$run_log.err" "$run_pid" && return 0
    kill -0 "$run_pid" 2>/dev/null || die "the run ended before pausing at $1"
    die "the sink never paused at $1"
}
prepared() { q "$1" "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"; }
no_prepared() { # db
    assert_eq "$(prepared "$1")" 0 "[$scenario] prepared transactions left"
}
# Batches whose rows do not all show (committed batch_log, missing rows).
incomplete() { # db
    q "$1" "WITH r AS (SELECT batch_id FROM transacoes UNION ALL SELECT batch_id FROM transacoes_duplicadas
                       UNION ALL SELECT batch_id FROM dead_letters),
                  c AS (SELECT batch_id, count(*) AS n FROM r GROUP BY batch_id)
             SELECT count(*) FROM c FULL JOIN batch_log b USING (batch_id)
              WHERE b.batch_id IS NULL OR c.n IS DISTINCT FROM b.n_mensagens::bigint"
}
check_final() { # db
    local out="$work/final.$scenario"
    no_prepared "$1"
    assert_eq "$(incomplete "$1")" 0 "[$scenario] batches not all-or-nothing"
    dump_decisions "$1" "$out"
    diff_dumps "[$scenario] vs the reference" "$work/ref" "$out" ||
        die "tables differ from the reference run"
    assert_eq "$(q "$1" "SELECT count(*) FROM (SELECT batch_id FROM transacoes
                          GROUP BY batch_id HAVING count(DISTINCT created_at) > 1) x")" 0 \
        "[$scenario] every row of a batch has one created_at"
    say "tables equal the reference ($(wc -l <"$out/batch_log") batches)"
}

# ------------------------------------------------- 1. connections 1, 2, 3
scenario="reference"
ref=$(new_database sl_ref --users "$USERS")
run_to_end "$ref" 2 1
dump_decisions "$ref" "$work/ref"
nbatches=$(wc -l <"$work/ref/batch_log")
[ "$nbatches" -ge 15 ] || die "only $nbatches batches"
[ "$(wc -l <"$work/ref/dead_letters")" -eq 8 ] || die "$(wc -l <"$work/ref/dead_letters") dead letters"
[ -s "$work/ref/transacoes_duplicadas" ] || die "no duplicates"
no_prepared "$ref"
say "$nbatches batches through one connection"
for c in 2 3; do
    scenario="connections-$c"
    db=$(new_database "sl_c$c" --users "$USERS")
    run_to_end "$db" 2 "$c"
    grep -q "committing each batch through $c connections" "$run_log.err" ||
        die "no line saying $c connections in: $(cat "$run_log.err")"
    check_final "$db"
done

# ------------------------------- 2. kill -9 between prepare and decision
scenario="kill-prepared"
db=$(new_database sl_kp --users "$USERS")
start_run "$db" 2 3 BANKSTREAM_TEST_SINK_PAUSE=prepared:5
wait_paused "prepared:5"
assert_eq "$(q "$db" "SELECT count(*) FROM batch_log")" 4 "[$scenario] batches logged while paused"
assert_eq "$(q "$db" "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()
                       AND gid LIKE 'bankstream:5:%:_/3:%'")" 3 "[$scenario] slices of batch 5 prepared"
kill_rank0 "$db"
assert_eq "$(prepared "$db")" 3 "[$scenario] prepared transactions after the kill"
assert_eq "$(q "$db" "SELECT count(*) FROM transacoes WHERE batch_id = 5")" 0 \
    "[$scenario] rows of batch 5 visible before the decision"
rc=0
err=$(mpirun_bs 1 run "$(job 1)" --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
    --batch-size "$BATCH" --batch-ms 0 --snapshot-dir none --until-idle --sink none 2>&1) || rc=$?
[ "$rc" -ne 0 ] || die "--sink none ran over unresolved prepared transactions"
assert_contains "$err" "3 prepared transaction(s) of an interrupted batch commit are in the database; --sink none does not resolve them" \
    "[$scenario] --sink none refuses"
assert_eq "$(prepared "$db")" 3 "[$scenario] prepared transactions after --sink none"
run_to_end "$db" 2 3
grep -q "resolved 3 prepared transaction(s) of an interrupted batch commit: 0 committed" \
    "$run_log.err" || die "no line about the 3 rolled back: $(cat "$run_log.err")"
check_final "$db"

# ------------------- 3. kill -9 after the decision, before COMMIT PREPARED
scenario="kill-decided"
db=$(new_database sl_kd --users "$USERS")
start_run "$db" 2 3 BANKSTREAM_TEST_SINK_PAUSE=decided:6
wait_paused "decided:6"
assert_eq "$(q "$db" "SELECT count(*) FROM batch_log")" 6 "[$scenario] batches logged while paused"
kill_rank0 "$db"
assert_eq "$(prepared "$db")" 3 "[$scenario] prepared transactions after the kill"
assert_eq "$(incomplete "$db")" 1 "[$scenario] batches with rows not yet visible"
"$BANKSTREAM" init --pg "$db" --users "$USERS" >"$work/init.out" 2>"$work/init.err" ||
    die "init after the kill failed: $(cat "$work/init.err")"
grep -q "resolved 3 prepared transaction(s) of an interrupted batch commit: 3 committed" \
    "$work/init.err" || die "init did not say it committed them: $(cat "$work/init.err")"
no_prepared "$db"
assert_eq "$(incomplete "$db")" 0 "[$scenario] after init, batches not all-or-nothing"
run_to_end "$db" 3 2
check_final "$db"

# --------------------- 4. the same kill, the next run with one connection
scenario="kill-decided-then-one"
db=$(new_database sl_k1 --users "$USERS")
start_run "$db" 2 2 BANKSTREAM_TEST_SINK_PAUSE=decided:9
wait_paused "decided:9"
kill_rank0 "$db"
assert_eq "$(prepared "$db")" 2 "[$scenario] prepared transactions after the kill"
run_to_end "$db" 1 1
grep -q "resolved 2 prepared transaction(s) of an interrupted batch commit: 2 committed" \
    "$run_log.err" || die "no line about the 2 committed: $(cat "$run_log.err")"
check_final "$db"

# ------------------------- 5. slice sessions terminated while running
scenario="slices-terminated"
db=$(new_database sl_term --users "$USERS")
start_run "$db" 2 3
kills=0
for ((i = 0; i < 400 && kills < 3; i++)); do
    kill -0 "$run_pid" 2>/dev/null || break
    n=$(q "$db" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE datname = current_database() AND application_name LIKE '%[slice 2/3]'
                    AND state = 'active'")
    [ "$n" -gt 0 ] && kills=$((kills + 1)) && sleep 0.3
    sleep 0.02
done
wait_run 120
[ "$run_rc" -eq 0 ] || die "the run exited $run_rc after its slices were terminated ($(tail -1 "$run_log.err"))"
[ "$kills" -gt 0 ] || die "no slice session was caught working"
grep -q "database lost while committing batch" "$run_log.err" ||
    die "no retry warning in: $(cat "$run_log.err")"
say "$kills slice session(s) terminated; the run retried"
check_final "$db"

# --------------------- 6. slices that wait on each other: one connection
scenario="summary-trigger"
db=$(new_database sl_trig --users "$USERS")
q "$db" "CREATE TABLE resumo (k int PRIMARY KEY, n bigint NOT NULL);
         CREATE FUNCTION resumir() RETURNS trigger LANGUAGE plpgsql AS \$\$
         BEGIN
             INSERT INTO resumo AS r SELECT 1, count(*) FROM novas
             ON CONFLICT (k) DO UPDATE SET n = r.n + EXCLUDED.n;
             RETURN NULL;
         END \$\$;
         CREATE TRIGGER resumo_ins AFTER INSERT ON transacoes REFERENCING NEW TABLE AS novas
             FOR EACH STATEMENT EXECUTE FUNCTION resumir()" >/dev/null
run_to_end "$db" 2 3
grep -Eq "INSERT triggers on transacoes and transacoes_scores: ([a-z_]+, )*resumo_ins" "$run_log.err" ||
    die "no warning naming the trigger in: $(cat "$run_log.err")"
grep -q "commit through one connection" "$run_log.err" || die "no fallback line: $(cat "$run_log.err")"
assert_eq "$(q "$db" "SELECT n FROM resumo")" "$(q "$db" "SELECT count(*) FROM transacoes")" \
    "[$scenario] the summary counts every row"
check_final "$db"

# --------------------------- 7. a server without prepared transactions
scenario="no-prepared-transactions"
pg2="$work/pg2"
port2=$(free_port)
conn2=$("$BANKSTREAM" db start --dir "$pg2" --port "$port2" | tail -1)
psql_q "$conn2" "ALTER SYSTEM SET max_prepared_transactions = 0" >/dev/null
"$BANKSTREAM" db stop --dir "$pg2" >/dev/null
"$BANKSTREAM" db start --dir "$pg2" --port "$port2" >/dev/null
assert_eq "$(psql_q "$conn2" "SHOW max_prepared_transactions")" 0 "[$scenario] the setting"
"$BANKSTREAM" init --pg "$conn2" --users 100 >/dev/null
rc=0
err=$(mpirun_bs 1 run "$(job 3)" --pg "$conn2" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
    --batch-size "$BATCH" --batch-ms 0 --snapshot-dir none --until-idle 2>&1) || rc=$?
[ "$rc" -ne 0 ] || die "run with connections = 3 exited 0 on a server without prepared transactions"
line=$(grep "bankstream run: error:" <<<"$err") || die "no error line: $err"
assert_contains "$line" "has max_prepared_transactions = 0: set max_prepared_transactions = 6 (at least 3) in its postgresql.conf and restart it, or set [sink] connections = 1" \
    "[$scenario] the error names the setting and the fix"
assert_eq "$(psql_q "$conn2" "SELECT count(*) FROM batch_log")" 0 "[$scenario] nothing committed"
say "refused: ${line#*error: }"

scenario="all"
say "ok: $runs runs in $((SECONDS - t_start)) s"
