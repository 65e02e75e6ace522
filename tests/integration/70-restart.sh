#!/usr/bin/env bash
# 70-restart.sh - exactly-once across crashes: `bankstream run` is killed -9
# at chosen moments (rank 0 mid-stream, a worker, rank 0 in the middle of a
# commit, rank 0 and a worker during the restore, again and again until the
# run completes, rank 0 while the sink's second session holds the next
# batch's rows uncommitted), that session's backend is ended inside its
# COMMIT, and the PostgreSQL server is restarted under it mid-commit; each
# time the same command is rerun (often with another -np) to completion and
# every table must equal the one of an uninterrupted reference run, row for
# row (wall-clock columns aside). Independently, the reference must hold
# every Kafka offset exactly once (kcat's listing); every final state must
# have batch ids 1..n whose offset ranges chain and contain their rows, and
# no transaction id twice; after every crash, each logged batch has all its
# rows and no row lacks its batch (all-or-nothing).
#
# Mid-commit and mid-restore kills are made deterministic with a psql session
# holding a table lock: rank 0 is seen waiting on it in pg_stat_activity
# (INSERT INTO batch_log = inside the batch transaction, COPY of transacoes =
# inside the restore) and killed there.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

USERS=3000
BATCH=2000
DEAD_WAIT=10 # seconds mpirun may take to end after a rank was killed

work=$(mktemp -d /tmp/bs-test-restart.XXXXXX)
chmod 755 "$work"
run_pid=""
locker_pid=""
cleanup() {
    local rc=$?
    set +e
    [ -n "$locker_pid" ] && kill "$locker_pid" 2>/dev/null
    if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
        for p in $(pgrep -P "$run_pid"); do kill -9 "$p"; done
        kill -9 "$run_pid"
    fi
    for d in $(test_databases 2>/dev/null); do
        for p in $(any_rank_left "dbname=$d "); do kill -9 "$p"; done
    done
    drop_databases
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "run logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

scenario="setup"
t_start=$SECONDS
say() { echo "[$scenario] $*"; }
die() { # message: the scenario, the message, the tail of the last run's logs
    echo "FAILED in scenario '$scenario': $*" >&2
    for f in $(ls -t "$work"/*.err 2>/dev/null | head -2); do
        echo "--- $(basename "$f") (tail)" >&2
        tail -8 "$f" >&2
    done
    exit 1
}
q() { psql_q "$1" "$2"; }

# ------------------------------------------------------------------ the topic
# 30000 generated transactions, then duplicates of some of them and malformed
# messages, then 30000 more and duplicates of those: duplicates and dead
# letters fall in the middle and at the end of the stream, so a restart
# between an original and its duplicate needs the restored seen-set.
topic=$(new_topic restart)
gen_db=$(new_database rs_gen --users "$USERS")
produce() { "$BANKSTREAM" produce --pg "$gen_db" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
    --rate 0 --historic 0 --quiet "$@"; }
kcat_put() { kcat -b "$BS_TEST_BROKERS" -t "$topic" -P "$@"; }
produce --count 30000 --seed 11 --start-time 1750000000000
"$BANKSTREAM" produce --pg "$gen_db" --output - --count 30000 --seed 11 \
    --start-time 1750000000000 --historic 0 --rate 0 --quiet | awk 'NR % 150 == 7' >"$work/dups1"
kcat_put -K $'\t' <"$work/dups1"
for p in 0 1 2 3; do
    printf '%s\n' "not json $p" '{"id_transacao": 12}' "{\"id_transacao\":\"$p\"}" |
        kcat_put -p "$p"
done
produce --count 30000 --seed 12 --start-time 1750000100000
"$BANKSTREAM" produce --pg "$gen_db" --output - --count 30000 --seed 12 \
    --start-time 1750000100000 --historic 0 --rate 0 --quiet | awk 'NR % 211 == 3' >"$work/dups2"
kcat_put -K $'\t' <"$work/dups2"
# Every (partition, offset) of the topic, as kcat reads it.
kcat -b "$BS_TEST_BROKERS" -C -t "$topic" -e -q -f '%p %o\n' | sort -n -k1,1 -k2,2 >"$work/offsets.kcat"
total=$(wc -l <"$work/offsets.kcat")
assert_eq "$total" "$((60000 + $(wc -l <"$work/dups1") + $(wc -l <"$work/dups2") + 12))" \
    "messages in the topic"

job="$work/job.ini"
printf '[sink]\nretry_seconds = 30\n' >"$job"
runs=0

# Start `bankstream run` in the background on db with np ranks; sets run_pid
# and run_log (stdout in $run_log.out, stderr in $run_log.err).
start_run() { # db np
    runs=$((runs + 1))
    run_log="$work/$runs.$scenario.np$2"
    mpirun_bs "$2" run "$job" --pg "$1" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --batch-size "$BATCH" --batch-ms 0 --until-idle >"$run_log.out" 2>"$run_log.err" &
    run_pid=$!
}

# Pids of the bankstream processes of MPI rank r running against db.
rank_pids() { # db rank
    local p
    for p in $(pgrep -f -- "dbname=$(db_name "$1") " || true); do
        grep -qxz "OMPI_COMM_WORLD_RANK=$2" "/proc/$p/environ" 2>/dev/null && echo "$p"
    done
    return 0
}
any_rank_left() { # db -> pids of any rank still alive
    local r
    for r in 0 1 2 3; do rank_pids "$1" "$r"; done
}

# Wait for the background run to end; sets run_rc to its exit status. Fails
# if it takes longer than limit seconds.
wait_run() { # limit_seconds
    local i
    for ((i = 0; i < $1 * 20; i++)); do
        kill -0 "$run_pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$run_pid" 2>/dev/null; then
        die "mpirun did not end within $1 s (its children: $(pgrep -P "$run_pid" | tr '\n' ' ')); $(basename "$run_log")"
    fi
    run_rc=0
    wait "$run_pid" || run_rc=$?
    run_pid=""
}

# Wait until the background run has committed at least n batches. Returns 1
# if the run ended first.
wait_batches() { # db n
    local i
    for ((i = 0; i < 1200; i++)); do
        [ "$(q "$1" "SELECT count(*) FROM batch_log")" -ge "$2" ] && return 0
        kill -0 "$run_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    die "no $2 committed batches after 60 s"
}

# Wait until the process of rank r exists; sets rank_pid.
wait_rank() { # db rank
    local i
    for ((i = 0; i < 600; i++)); do
        rank_pid=$(rank_pids "$1" "$2" | head -1)
        [ -n "$rank_pid" ] && return 0
        kill -0 "$run_pid" 2>/dev/null || die "the run ended before rank $2 appeared"
        sleep 0.02
    done
    die "rank $2 did not appear within 12 s"
}

# kill -9 rank r; then mpirun must end by itself, non-zero, with no rank left;
# a table lock is released; the tables must be all-or-nothing per batch.
kill_rank() { # db rank what
    local t0 left
    wait_rank "$1" "$2"
    kill -9 "$rank_pid"
    t0=$(date +%s%N)
    wait_run "$DEAD_WAIT"
    [ "$run_rc" -ne 0 ] || die "mpirun exited 0 after rank $2 was killed ($3)"
    left=$(any_rank_left "$1")
    [ -z "$left" ] || die "ranks left running after mpirun ended: $left"
    [ -z "$locker_pid" ] || release_lock "$1"
    say "killed rank $2 ($3): mpirun ended with $run_rc after $((($(date +%s%N) - t0) / 1000000)) ms; $(q "$1" "SELECT count(*) FROM batch_log") batches committed"
    check_atomic "$1"
}

# Run to completion in the foreground; must exit 0.
run_to_end() { # db np
    local tr=$SECONDS
    start_run "$1" "$2"
    wait_run 90
    [ "$run_rc" -eq 0 ] || die "run with -np $2 exited $run_rc ($(tail -1 "$run_log.err"))"
    say "run with -np $2 completed in $((SECONDS - tr)) s"
}

# A session holding a table lock until release_lock.
lock_table() { # db table mode
    psql "$1 application_name=bs_restart_locker" -XAtq -v ON_ERROR_STOP=1 \
        -c "BEGIN" -c "LOCK TABLE $2 IN $3 MODE" -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
    locker_pid=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [ "$(q "$1" "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                      WHERE a.application_name = 'bs_restart_locker' AND l.granted
                        AND l.relation = '$2'::regclass")" -ge 1 ] && return 0
        sleep 0.05
    done
    die "could not lock $2"
}
release_lock() { # db
    q "$1" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'bs_restart_locker' AND datname = current_database()" >/dev/null
    wait "$locker_pid" 2>/dev/null || true
    locker_pid=""
}
# Wait until a session of rank 0 ('bankstream' for the restore's reads,
# 'bankstream run <topic>' for the sink) waits for a lock in a statement
# starting with prefix.
wait_blocked() { # db prefix
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(q "$1" "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                      AND application_name LIKE 'bankstream%' AND wait_event_type = 'Lock'
                      AND query LIKE '$2%'")" -ge 1 ] && return 0
        kill -0 "$run_pid" 2>/dev/null || die "the run ended before blocking on '$2'"
        sleep 0.05
    done
    die "rank 0 never blocked on '$2'"
}

# After a crash: every stored row belongs to a logged batch and every logged
# batch has all its rows (nothing half-committed).
check_atomic() { # db
    local bad
    bad=$(q "$1" "WITH r AS (SELECT batch_id FROM transacoes UNION ALL SELECT batch_id FROM transacoes_duplicadas
                             UNION ALL SELECT batch_id FROM dead_letters),
                  c AS (SELECT batch_id, count(*) AS n FROM r GROUP BY batch_id)
             SELECT count(*) FROM c FULL JOIN batch_log b USING (batch_id)
              WHERE b.batch_id IS NULL OR c.n IS DISTINCT FROM b.n_mensagens::bigint")
    [ "$bad" -eq 0 ] || die "after the crash, $bad batches are not all-or-nothing in the tables"
}

# The final tables: invariants, then equality with the reference.
check_final() { # db
    local db=$1 out="$work/final.$scenario" tc=$SECONDS
    assert_eq "$(q "$db" "SELECT count(*) = count(DISTINCT id_transacao) FROM transacoes")" t \
        "[$scenario] transaction ids are unique"
    assert_eq "$(q "$db" "SELECT min(batch_id) = 1 AND max(batch_id) = count(*) FROM batch_log")" t \
        "[$scenario] batch ids 1..n without gaps"
    assert_eq "$(q "$db" "SELECT count(*) FROM batch_log b JOIN batch_log p ON p.batch_id = b.batch_id - 1
                            WHERE b.start_offsets <> p.end_offsets")" 0 \
        "[$scenario] each batch starts where the previous one ended"
    assert_eq "$(q "$db" "WITH r AS (SELECT batch_id, kafka_particao AS p, kafka_offset AS o FROM transacoes
                            UNION ALL SELECT batch_id, kafka_particao, kafka_offset FROM transacoes_duplicadas
                            UNION ALL SELECT batch_id, kafka_particao, kafka_offset FROM dead_letters)
                          SELECT count(*) FROM r JOIN batch_log b USING (batch_id)
                           WHERE o < b.start_offsets[p + 1] OR o >= b.end_offsets[p + 1]")" 0 \
        "[$scenario] every row lies in its batch's offset range"
    if [ "$scenario" = reference ]; then # the others must equal it
        q "$db" "SELECT kafka_particao, kafka_offset FROM transacoes UNION ALL
                 SELECT kafka_particao, kafka_offset FROM transacoes_duplicadas UNION ALL
                 SELECT kafka_particao, kafka_offset FROM dead_letters" | tr '|' ' ' |
            sort -n -k1,1 -k2,2 >"$out.offsets"
        if ! cmp -s "$out.offsets" "$work/offsets.kcat"; then
            echo "[$scenario] (partition offset) stored vs in the topic (kcat):" >&2
            diff "$out.offsets" "$work/offsets.kcat" | head -20 >&2
            die "the tables do not hold every offset of the topic exactly once"
        fi
        say "every offset of the topic is stored once"
        return 0
    fi
    dump_decisions "$db" "$out"
    diff_dumps "[$scenario] vs the reference" "$work/ref" "$out" ||
        die "tables differ from the uninterrupted run"
    say "final tables equal the reference ($(wc -l <"$out/batch_log") batches; checked in $((SECONDS - tc)) s)"
}

# ------------------------------------------------------------------ reference
scenario="reference"
t0=$SECONDS
ref=$(new_database rs_ref --users "$USERS")
run_to_end "$ref" 2
dump_decisions "$ref" "$work/ref"
nbatches=$(wc -l <"$work/ref/batch_log")
[ "$nbatches" -ge 30 ] || die "only $nbatches batches in the reference run"
[ "$(wc -l <"$work/ref/transacoes_duplicadas")" -eq $(($(wc -l <"$work/dups1") + $(wc -l <"$work/dups2"))) ] ||
    die "reference: $(wc -l <"$work/ref/transacoes_duplicadas") duplicates stored"
[ "$(wc -l <"$work/ref/dead_letters")" -eq 12 ] || die "reference: $(wc -l <"$work/ref/dead_letters") dead letters"
[ "$(q "$ref" "SELECT count(*) FROM transacoes WHERE transacao_aprovada")" -gt 0 ] || die "nothing approved"
[ "$(awk -F'\t' '$2 < 0' "$work/ref/balances" | wc -l)" -eq 0 ] || die "negative balances in the reference"
check_final "$ref"
say "$nbatches batches, $total messages ($((SECONDS - t0)) s)"

# Every run below has a duplicate filter of 4 KiB: full after a few batches,
# it "may have seen" nearly every id, so the database's primary keys decide
# (dedupe.h), across kills, restores and a database restart.
printf '[sink]\nretry_seconds = 30\n[batch]\nduplicate_filter_bytes = 4096\n' >"$job"

# ------------------------------------------- kill -9 rank 0 in mid-stream
scenario="kill-rank0"
t0=$SECONDS
db=$(new_database rs_k0 --users "$USERS")
start_run "$db" 2
wait_batches "$db" 4 || die "the run ended before 4 batches were committed"
kill_rank "$db" 0 "coordinator, after 4 committed batches"
run_to_end "$db" 1
check_final "$db"
say "done ($((SECONDS - t0)) s)"

# -------------------------------------------- kill -9 a worker rank
scenario="kill-worker"
t0=$SECONDS
db=$(new_database rs_kw --users "$USERS")
start_run "$db" 3
wait_batches "$db" 12 || die "the run ended before 12 batches were committed"
kill_rank "$db" 1 "worker of -np 3, after 12 committed batches"
run_to_end "$db" 3
check_final "$db"
say "done ($((SECONDS - t0)) s)"

# ------------------ kill -9 inside a batch transaction, then during the restore
scenario="kill-commit-restore"
t0=$SECONDS
db=$(new_database rs_kc --users "$USERS")
start_run "$db" 2
wait_batches "$db" 6 || die "the run ended before 6 batches were committed"
lock_table "$db" batch_log "SHARE" # blocks INSERT INTO batch_log, not SELECT
wait_blocked "$db" "INSERT INTO batch_log"
before=$(q "$db" "SELECT count(*) FROM batch_log")
kill_rank "$db" 0 "coordinator, inside the transaction of batch $((before + 1)), COPYs done"
assert_eq "$(q "$db" "SELECT count(*) FROM batch_log")" "$before" "[$scenario] batches logged after the kill"
lock_table "$db" transacoes "ACCESS EXCLUSIVE" # the ledger read of the restore waits
start_run "$db" 2
wait_blocked "$db" "COPY"
kill_rank "$db" 0 "coordinator, restore half done (users loaded, ledger not)"
lock_table "$db" transacoes "ACCESS EXCLUSIVE"
start_run "$db" 3
wait_blocked "$db" "COPY"
kill_rank "$db" 2 "worker of -np 3, during the restore"
assert_eq "$(q "$db" "SELECT count(*) FROM batch_log")" "$before" "[$scenario] batches logged after the restore kills"
run_to_end "$db" 3
check_final "$db"
say "done ($((SECONDS - t0)) s)"

# ------------------------------- kill -9 again and again until the run completes
# A few batches after each (re)start, alternately rank 0 and the last rank,
# with -np changing; never near the end (the run must not end before the
# kill lands: polling lags a few batches behind).
scenario="kill-repeated"
t0=$SECONDS
db=$(new_database rs_kx --users "$USERS")
nps=(2 3 1 2 3)
delays=(0 0.05 0.12 0.02 0.2) # seconds after the threshold batch was seen committed
kills=0
for ((i = 0; ; i++)); do
    np=${nps[i % ${#nps[@]}]}
    committed=$(q "$db" "SELECT count(*) FROM batch_log")
    target=$((committed + 3))
    start_run "$db" "$np"
    if [ "$kills" -lt 4 ] && [ "$target" -le $((nbatches - 8)) ] && wait_batches "$db" "$target"; then
        sleep "${delays[i]}"
        if kill -0 "$run_pid" 2>/dev/null; then
            kill_rank "$db" $(((i % 2) * (np - 1))) "-np $np, ${delays[i]} s after batch $target was seen committed"
            kills=$((kills + 1))
            continue
        fi
    fi
    wait_run 90
    [ "$run_rc" -eq 0 ] || die "the run with -np $np exited $run_rc ($(tail -1 "$run_log.err"))"
    say "run $((i + 1)) with -np $np completed by itself"
    break
done
[ "$kills" -ge 2 ] || die "only $kills kills before the run completed"
check_final "$db"
say "done after $kills kills ($((SECONDS - t0)) s)"

# ------------------------ kill -9 while the ahead session holds a batch's rows
# With one connection the sink writes the next batch's rows in a second
# session while a batch commits (stream/sink_ahead.h). The run stops for good
# once a batch from 8 on is written ahead (its rows in an open transaction,
# not committed), and is killed there: none of its rows may show, and the
# rerun must commit it once.
scenario="kill-ahead"
t0=$SECONDS
db=$(new_database rs_ka --users "$USERS")
BANKSTREAM_TEST_SINK_PAUSE=ahead:8 start_run "$db" 2
if ! wait_sink_paused "$run_log.err" "$run_pid"; then
    kill -0 "$run_pid" 2>/dev/null || die "the run ended before a batch from 8 on was written ahead"
    die "no batch was written ahead within 60 s"
fi
held=$(sink_paused_batch "$run_log.err")
[ -n "$held" ] || die "the pause line names no batch: $(grep -m1 BANKSTREAM_TEST_SINK_PAUSE "$run_log.err")"
wait_batches "$db" $((held - 1)) || die "the run ended before batch $((held - 1)) committed"
assert_eq "$(q "$db" "SELECT state FROM pg_stat_activity WHERE datname = current_database()
                       AND application_name LIKE 'bankstream run % [ahead]'")" \
    "idle in transaction" "[$scenario] the ahead session holds batch $held's rows, uncommitted"
assert_eq "$(q "$db" "SELECT count(*) FROM transacoes WHERE batch_id >= $held")" 0 \
    "[$scenario] rows of batch $held seen before its commit"
kill_rank "$db" 0 "coordinator, batch $held written ahead, batch $((held - 1)) committed"
assert_eq "$(q "$db" "SELECT max(batch_id) FROM batch_log")" $((held - 1)) \
    "[$scenario] the newest batch after the kill"
run_to_end "$db" 2
check_final "$db"
say "done ($((SECONDS - t0)) s)"

# ---------------- the ahead session lost during its COMMIT (an in-doubt commit)
# A deferred trigger of this test makes the ahead session's COMMIT wait for an
# advisory lock the test holds; the test then ends that session's backend.
# The sink cannot know whether that COMMIT happened: it must make sure the
# backend is gone, ask batch_log, and commit the batch through its own
# session (here it had not committed), once.
scenario="ahead-in-doubt"
t0=$SECONDS
db=$(new_database rs_ad --users "$USERS")
q "$db" "CREATE FUNCTION bs_test_hold_ahead() RETURNS trigger LANGUAGE plpgsql AS \$\$
         BEGIN
             IF current_setting('application_name') LIKE '% [ahead]' THEN
                 PERFORM pg_advisory_xact_lock_shared(4242);
             END IF;
             RETURN NULL;
         END \$\$;
         CREATE CONSTRAINT TRIGGER bs_test_hold AFTER INSERT ON batch_log
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bs_test_hold_ahead()" >/dev/null
psql "$db application_name=bs_restart_locker" -XAtq -v ON_ERROR_STOP=1 \
    -c "SELECT pg_advisory_lock(4242)" -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
locker_pid=$!
start_run "$db" 2
victim=""
for ((i = 0; i < 1200; i++)); do
    victim=$(q "$db" "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                       AND application_name LIKE 'bankstream run % [ahead]'
                       AND wait_event_type = 'Lock' AND query = 'COMMIT'")
    [ -z "$victim" ] || break
    kill -0 "$run_pid" 2>/dev/null || die "the run ended before the ahead session committed a batch"
    sleep 0.05
done
[ -n "$victim" ] || die "the ahead session never waited in its COMMIT"
before=$(q "$db" "SELECT count(*) FROM batch_log")
q "$db" "SELECT pg_terminate_backend($victim)" >/dev/null
release_lock "$db"
say "ended the ahead session's backend (pid $victim) in the COMMIT of batch $((before + 1))"
wait_run 90
[ "$run_rc" -eq 0 ] || die "the run exited $run_rc after its ahead session was lost ($(tail -1 "$run_log.err"))"
grep -q "batch $((before + 1)): its commit in the ahead session failed .*asks batch_log whether it committed" \
    "$run_log.err" || die "no warning about the in-doubt commit of batch $((before + 1)) in: $(cat "$run_log.err")"
say "the run said: $(grep -o "batch $((before + 1)): its commit in the ahead session failed.*" "$run_log.err")"
check_final "$db"
say "done ($((SECONDS - t0)) s)"

# --------------------------------- the PostgreSQL server restarts mid-commit
scenario="pg-restart"
t0=$SECONDS
pgdir="$BS_TEST_TMP/pg"
[ -d "$pgdir" ] || die "no shared cluster in $pgdir (run this test with tests/run)"
pgport=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$BS_TEST_PG")
db=$(new_database rs_pg --users "$USERS")
start_run "$db" 2
wait_batches "$db" 5 || die "the run ended before 5 batches were committed"
lock_table "$db" batch_log "SHARE"
wait_blocked "$db" "INSERT INTO batch_log"
before=$(q "$db" "SELECT count(*) FROM batch_log")
"$BANKSTREAM" db stop --dir "$pgdir" >/dev/null
wait "$locker_pid" 2>/dev/null || true # the shutdown ended the locking session
locker_pid=""
"$BANKSTREAM" db start --dir "$pgdir" --port "$pgport" >/dev/null
say "restarted PostgreSQL while batch $((before + 1)) was inside its transaction"
wait_run 60
[ "$run_rc" -eq 0 ] || die "the run exited $run_rc after the database restart ($(tail -1 "$run_log.err"))"
grep -q "database lost while committing batch" "$run_log.err" ||
    die "no warning about the lost database in: $(cat "$run_log.err")"
say "the run survived: $(grep -c "database lost" "$run_log.err") retry warning(s)"
check_final "$db"
say "done ($((SECONDS - t0)) s)"

scenario="all"
say "ok: $runs runs in $((SECONDS - t_start)) s"
