#!/usr/bin/env bash
# 96-kafka.sh - `bankstream run` against a real Apache Kafka broker of its
# own (scripts/kafka.sh, in a temporary directory, on a free port; the shared
# test broker is never touched, whatever BS_TEST_BROKER says), with the faults
# and the topic features that librdkafka's mock cluster cannot model.
#
# Setup: one topic of generated transactions with duplicates and malformed
# messages; the reference is an uninterrupted run of it (its own group), which
# must hold every offset of the topic exactly once. Then, each a named section
# whose failure does not stop the others:
#
#  1 kill9       kill -9 of the broker while batches are being committed,
#                restart on the same directory and port: the run reports the
#                outage within seconds and its end, keeps its state (same
#                process, no second restore), resumes, ends; tables identical
#                to the reference (dump_decisions).
#  2 down        the broker stopped for ~25 s: reported at once, every ~10 s,
#                and at its end; tables identical to the reference. Beside it a
#                run with [source] wait_seconds = 5 gives up: non-zero exit
#                within a bound, one error naming the broker; its batch log
#                chains, and a second run completes it identically.
#  3 stop        SIGUSR1 to mpirun with the broker unreachable (issue 12.6):
#                five runs mid-stream, signalled 0.5 to 11 s into one outage,
#                and one run still waiting for the broker at start: every rank
#                gone within STOP_BOUND s, exit 0 or a clear error, the batches
#                it decided committed (its tables are a prefix of the
#                reference's). Prints each stop's duration.
#  4 grow        partitions added to the topic while `run` runs (kafka.sh tool
#                topics --alter): the new partitions' messages are processed
#                without a restart; batch_log's end_offsets grow to 4.
#  5 missing     `run` started before its topic exists says so and waits, then
#                proceeds once a producer creates it.
#  6 lag         Kafka's own consumer-groups tool: LAG 0 on every partition for
#                the groups of the reference, the kill -9 run (group
#                "bankstream") and the outage run; sections 4, 5 and 7 check
#                their own groups the same way.
#  7 txn         a transactional producer (Python confluent-kafka): committed,
#                aborted, committed. The aborted messages are never decided;
#                the others decide as a plain topic holding only them; the
#                batch end offsets pass the transaction markers (LAG 0).
#  8 compress    zstd and lz4 batches (kcat -z; kafka.sh tool dump-log shows
#                the codecs) decide as the same messages uncompressed.
#  9 retention   records deleted (kafka.sh tool delete-records) before `run`
#                read them: TODAY's behaviour, see retention_expectation.
#
# kafka.sh's own bad input (jars missing, a broker never ready, port taken) is
# 12-kafka-sh.sh. Timings per section are printed ("timing:"), and a summary
# with each failed section's FAILED lines at the end.
# BS_K96_SECTIONS="kill9 stop" runs only the sections named (setup always).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KAFKA_SH=$ROOT/scripts/kafka.sh
PYKAFKA=${BANKSTREAM_PYKAFKA:-$HOME/.cache/bankstream/pyclients}/bin/python

USERS=2000
N=40000            # generated transactions in the faults topic
STOP_BOUND=30      # s from SIGUSR1 to the last rank's exit (issue 12.6)
GIVEUP_WAIT=5      # [source] wait_seconds of the run that must give up
GIVEUP_BOUND=15    # s past wait_seconds for that run to have exited
REPORT_BOUND=10    # s from the broker's death to the "unreachable" line
RESUME_BOUND=20    # s from the broker's return to "reachable again" (librdkafka's
                   # reconnect backoff grows to reconnect.backoff.max.ms, 10 s)
OUTAGE=25          # s the broker stays down in section 2

# Outside BS_TEST_TMP, which tests/run removes: the logs of a failed run stay.
W=$(mktemp -d /tmp/bs-test-kafka96.XXXXXX)
chmod 755 "$W"
KDIR=$W/kafka
KPORT=$(free_port)
BROKERS=127.0.0.1:$KPORT
# A broker killed with -9 keeps its registration until the session expires
# (9 s by default): a shorter session makes restarts here quicker.
export BANKSTREAM_KAFKA_PROPERTIES="broker.session.timeout.ms=4000 broker.heartbeat.interval.ms=500"
dbs=()

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
timing() { echo "timing: $*"; }
q() { psql_q "$1" "$2"; }
dbname() { sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$1"; }

# Every process of ours still running but the broker: the runs (their
# arguments name $W), the tools. By pid, never by a broad name.
our_pids() {
    pgrep -f -- "$W/" 2>/dev/null | grep -vxF -e "$$" -e "$(cat "$KDIR/kafka.pid" 2>/dev/null || echo -)" || true
}
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$st" != Z* ]]; }
kill_ours() {
    local p
    for p in $(our_pids); do kill -9 "$p" 2>/dev/null || true; done
}
cleanup() {
    local rc=$?
    set +e
    kill_ours
    "$KAFKA_SH" stop --dir "$KDIR" >/dev/null 2>&1
    for d in "${dbs[@]}"; do
        PGOPTIONS="-c client_min_messages=warning" \
            psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
    if [ "$rc" -eq 0 ]; then
        rm -rf "$W"
    else
        rm -rf "$KDIR/data" "$W"/snap.* "$W"/dump.*
        echo "logs kept in $W" >&2
    fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

# ------------------------------------------------------------------ helpers

broker_start() { # -> seconds until ready (kafka.sh waits for metadata)
    local t0
    t0=$(now)
    "$KAFKA_SH" start --dir "$KDIR" --port "$KPORT" >"$W/kafka.start" 2>&1 ||
        fail "kafka.sh start: $(tail -3 "$W/kafka.start")"
    since "$t0"
}
broker_kill9() { kill -9 "$(cat "$KDIR/kafka.pid")"; }
broker_stop() { "$KAFKA_SH" stop --dir "$KDIR" >/dev/null; }
broker_up() { "$KAFKA_SH" status --dir "$KDIR" >/dev/null 2>&1; }

fresh_db() { # tag -> conninfo of a new initialized database
    local db
    db=$(PGOPTIONS="-c client_min_messages=warning" new_database "k96_$1")
    "$BANKSTREAM" init --pg "$db" --users "$USERS" >/dev/null
    echo "$db"
}

job() { # tag lines... -> path of a job file holding the lines
    local f=$W/$1.ini
    shift
    printf '%s\n' "$@" >"$f"
    echo "$f"
}

# mpirun -np 2 bankstream run in the background, stdout/stderr in $W/TAG.out
# and .err, its own snapshot directory. Sets RUN_PID (mpirun's own pid).
start_run() { # tag db args...
    local tag=$1 db=$2
    shift 2
    mpirun --oversubscribe --bind-to none -wdir "$W" -np 2 "$BANKSTREAM" run \
        --pg "$db" --brokers "$BROKERS" --snapshot-dir "$W/snap.$(dbname "$db")" \
        --batch-ms 0 "$@" >"$W/$tag.out" 2>"$W/$tag.err" &
    RUN_PID=$!
}

# Wait for a background run; sets RUN_RC. Returns 1 (after killing it and
# its ranks) if it is still running after limit seconds.
wait_run() { # pid limit_seconds [db]
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        kill -9 "$pid" 2>/dev/null
        [ -n "${3:-}" ] && for p in $(rank_pids "$3"); do kill -9 "$p" 2>/dev/null; done
        wait "$pid" 2>/dev/null || true
        RUN_RC=timeout
        return 1
    fi
    RUN_RC=0
    wait "$pid" || RUN_RC=$?
    return 0
}

rank_pids() { # db -> pids of the bankstream ranks running against it
    local p
    for p in $(pgrep -f -- "dbname=$(dbname "$1") " 2>/dev/null); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = bankstream ] && echo "$p"
    done
    return 0
}

# Wait until db's batch_log satisfies a SQL condition; fails if pid ended
# first or after limit seconds.
await_sql() { # db condition limit pid what
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [ "$(q "$1" "SELECT ($2) FROM batch_log")" = t ] && return 0
        alive "$4" || fail "$5: the run ended first; its last lines: $(tail -3 "$W/$6.err" 2>/dev/null)"
        sleep 0.1
    done
    fail "$5: not reached within $3 s"
}
await_batches() { # db n pid tag
    await_sql "$1" "count(*) >= $2" 60 "$3" "waiting for $2 committed batches" "$4"
}
await_messages() { # db n limit pid tag
    await_sql "$1" "coalesce(sum(n_mensagens), 0) >= $2" "$3" "$4" "waiting for $2 messages in batch_log" "$5"
}

# Wait until FILE has more than `from` lines matching an extended regex.
# Prints the seconds waited; returns 1 after limit seconds.
await_line() { # file regex limit [from]
    local t0 i n
    t0=$(now)
    for ((i = 0; i < $3 * 10; i++)); do
        n=$(grep -cE -- "$2" "$1" 2>/dev/null || true)
        if [ "${n:-0}" -gt "${4:-0}" ]; then
            since "$t0"
            return 0
        fi
        sleep 0.1
    done
    since "$t0"
    return 1
}

# Batch-log invariants: ids 1..n, each batch starts where the previous ended,
# every row inside its batch's ranges, no transaction id twice.
check_chain() { # db what
    assert_eq "$(q "$1" "SELECT count(*) = count(DISTINCT id_transacao) FROM transacoes")" t \
        "$2: transaction ids are unique"
    assert_eq "$(q "$1" "SELECT coalesce(min(batch_id), 1) = 1 AND coalesce(max(batch_id), 0) = count(*) FROM batch_log")" t \
        "$2: batch ids 1..n without gaps"
    assert_eq "$(q "$1" "SELECT count(*) FROM batch_log b JOIN batch_log p ON p.batch_id = b.batch_id - 1
                          WHERE b.start_offsets[1:cardinality(p.end_offsets)] <> p.end_offsets")" 0 \
        "$2: each batch starts where the previous one ended"
    assert_eq "$(q "$1" "WITH r AS (SELECT batch_id, kafka_particao AS p, kafka_offset AS o FROM transacoes
                          UNION ALL SELECT batch_id, kafka_particao, kafka_offset FROM transacoes_duplicadas
                          UNION ALL SELECT batch_id, kafka_particao, kafka_offset FROM dead_letters)
                        SELECT count(*) FROM r JOIN batch_log b USING (batch_id)
                         WHERE o < b.start_offsets[p + 1] OR o >= b.end_offsets[p + 1]")" 0 \
        "$2: every row lies in its batch's offset range"
}

# Every (partition, offset) stored once, against kcat's listing of the topic.
stored_offsets() { # db -> sorted "p o" lines of every row
    q "$1" "SELECT kafka_particao, kafka_offset FROM transacoes UNION ALL
            SELECT kafka_particao, kafka_offset FROM transacoes_duplicadas UNION ALL
            SELECT kafka_particao, kafka_offset FROM dead_letters" | tr '|' ' ' | sort -n -k1,1 -k2,2
}
topic_offsets() { # topic -> sorted "p o" lines of every message a read_committed consumer gets
    timeout 60 kcat -b "$BROKERS" -C -t "$1" -e -q -f '%p %o\n' | sort -n -k1,1 -k2,2
}
check_every_offset_once() { # db topic what
    stored_offsets "$1" >"$W/stored.$$"
    topic_offsets "$2" >"$W/topic.$$"
    if ! cmp -s "$W/stored.$$" "$W/topic.$$"; then
        diff "$W/stored.$$" "$W/topic.$$" | head -10 >&2
        fail "$3: the tables do not hold every offset of topic $2 exactly once ($(wc -l <"$W/stored.$$") rows, $(wc -l <"$W/topic.$$") messages; diff stored topic above)"
    fi
}

# The tables of db against the reference's dump (dump_decisions).
compare_to_ref() { # db what
    local out t bad=""
    out=$W/dump.$(dbname "$1")
    dump_decisions "$1" "$out"
    for t in transacoes transacoes_scores transacoes_duplicadas dead_letters batch_log balances; do
        if ! cmp -s "$out/$t" "$W/ref/$t"; then
            bad="$bad $t"
            echo "$2: $t differs from the reference ($(wc -l <"$out/$t") vs $(wc -l <"$W/ref/$t") rows); diff ours reference:" >&2
            diff "$out/$t" "$W/ref/$t" | head -6 >&2
        fi
    done
    [ -z "$bad" ] || fail "$2: tables differ from the uninterrupted run:$bad"
}

# The tables of db must be the reference's first batches: batch_log, and the
# rows of transacoes, transacoes_duplicadas and dead_letters of those batches.
compare_prefix_to_ref() { # db what
    local out k
    out=$W/dump.$(dbname "$1")
    dump_decisions "$1" "$out"
    k=$(q "$1" "SELECT coalesce(max(batch_id), 0) FROM batch_log")
    awk -F'\t' -v k="$k" '$1 <= k' "$W/ref/batch_log" | cmp -s - "$out/batch_log" ||
        fail "$2: batch_log is not the reference's first $k batches"
    awk -F'\t' -v k="$k" '$12 <= k' "$W/ref/transacoes" | cmp -s - "$out/transacoes" ||
        fail "$2: transacoes differ from the reference's rows of batches 1..$k"
    awk -F'\t' -v k="$k" '$2 <= k' "$W/ref/transacoes_duplicadas" | cmp -s - "$out/transacoes_duplicadas" ||
        fail "$2: transacoes_duplicadas differ from the reference's rows of batches 1..$k"
    awk -F'\t' -v k="$k" '$1 <= k' "$W/ref/dead_letters" | cmp -s - "$out/dead_letters" ||
        fail "$2: dead_letters differ from the reference's rows of batches 1..$k"
}

# Kafka's consumer-groups tool, every group at once: "group topic partition
# current end lag" lines.
describe_groups() {
    "$KAFKA_SH" tool consumer-groups --bootstrap-server "$BROKERS" --describe --all-groups \
        2>"$W/groups.err" | awk '$1 != "GROUP" && NF >= 6 { print $1, $2, $3, $4, $5, $6 }'
}
# LAG 0 on each of the topic's n partitions for group, in the tool's output.
check_lag0() { # groups_output group topic n what
    local rows
    rows=$(awk -v g="$2" -v t="$3" '$1 == g && $2 == t' <<<"$1" | sort -n -k3,3)
    if [ -z "$rows" ] || [ "$(wc -l <<<"$rows")" -ne "$4" ]; then
        fail "$5: consumer-groups --describe lists $(grep -c . <<<"$rows") partitions of $3 for group $2, expected $4:
$rows"
    fi
    awk '$6 != "0" || $4 != $5' <<<"$rows" | grep -q . &&
        fail "$5: group $2 lags on $3 (group topic partition current-offset log-end-offset lag):
$rows"
    echo "$5: group $2 on $3: LAG 0 on all $4 partitions (current = log-end offsets $(awk '{ printf "%s%s", (NR > 1 ? "," : ""), $5 }' <<<"$rows"))"
}

# The high watermarks of a topic, as batch_log writes them ({a,b,...}).
high_watermarks() { # topic n
    local p out=""
    for ((p = 0; p < $2; p++)); do
        out="$out${out:+,}$(timeout 30 kcat -b "$BROKERS" -Q -t "$1:$p:-1" | awk '{ print $NF }')"
    done
    echo "{$out}"
}

produce() { # topic count seed start_ms
    "$BANKSTREAM" produce --pg "$GEN_DB" --brokers "$BROKERS" --topic "$1" --count "$2" \
        --seed "$3" --start-time "$4" --rate 0 --historic 0 --quiet
}
produce_lines() { # count seed start_ms -> key<TAB>value lines on stdout
    "$BANKSTREAM" produce --pg "$GEN_DB" --output - --count "$1" --seed "$2" --start-time "$3" \
        --rate 0 --historic 0 --quiet
}

# ------------------------------------------------------------------ sections
# Each section runs in a subshell: a failure is recorded and the next
# section runs. Before the next one the broker is up again and no run of the
# failed section is left.
passed=() failed=() times=()
section() { # name description function
    local name=$1 t0 rc=0
    if [ -n "${BS_K96_SECTIONS:-}" ] && [[ " $BS_K96_SECTIONS " != *" $name "* ]]; then
        echo "=== section $name: not selected (BS_K96_SECTIONS=$BS_K96_SECTIONS)"
        return 0
    fi
    t0=$(now)
    echo
    echo "=== section $name: $2"
    # In the background, so that set -e holds inside (a subshell whose status
    # is tested runs with -e ignored); its output is kept for the summary.
    ("$3") >"$W/section.$name" 2>&1 &
    wait $! || rc=$?
    cat "$W/section.$name"
    times+=("$name $(since "$t0") s")
    if [ "$rc" -eq 0 ]; then
        passed+=("$name")
        echo "=== section $name passed in $(since "$t0") s"
    else
        failed+=("$name")
        echo "=== section $name FAILED in $(since "$t0") s (exit $rc)"
        kill_ours
        broker_up || broker_start >/dev/null
    fi
    timing "section $name: $(since "$t0") s"
}

# ------------------------------------------------------------------ setup

t0=$(now)
broker_start >/dev/null
timing "Apache Kafka started for this test in $(since "$t0") s ($BROKERS, $KDIR)"

t0=$(now)
GEN_DB=$(fresh_db gen)
dbs+=("$(dbname "$GEN_DB")")
TOPIC=$(new_topic kfaults)
# N transactions, duplicates of some, a few malformed messages, then the rest.
produce "$TOPIC" $((N / 2)) 21 1750000000000
produce_lines $((N / 2)) 21 1750000000000 | awk 'NR % 97 == 5' >"$W/dups"
kcat -b "$BROKERS" -t "$TOPIC" -P -K $'\t' <"$W/dups"
for p in 0 1 2 3; do
    printf '%s\n' "not json $p" '{"id_transacao": 12}' | kcat -b "$BROKERS" -t "$TOPIC" -P -p "$p"
done
produce "$TOPIC" $((N / 2)) 22 1750000200000
TOTAL=$(topic_offsets "$TOPIC" | tee "$W/offsets.kcat" | wc -l)
assert_eq "$TOTAL" $((N + $(wc -l <"$W/dups") + 8)) "messages in topic $TOPIC"
timing "topic $TOPIC: $TOTAL messages produced in $(since "$t0") s"

# The reference: one uninterrupted run, its own group.
t0=$(now)
REF_DB=$(fresh_db ref)
dbs+=("$(dbname "$REF_DB")")
REF_JOB=$(job ref '[kafka]' 'group.id = k96_ref')
start_run ref "$REF_DB" "$REF_JOB" --topic "$TOPIC" --batch-size 200 --until-idle
wait_run "$RUN_PID" 120 "$REF_DB" || fail "reference run still running after 120 s"
assert_eq "$RUN_RC" 0 "reference run's exit status ($(tail -2 "$W/ref.err"))"
check_chain "$REF_DB" reference
check_every_offset_once "$REF_DB" "$TOPIC" reference
dump_decisions "$REF_DB" "$W/ref"
REF_BATCHES=$(wc -l <"$W/ref/batch_log")
timing "reference run: $TOTAL messages, $REF_BATCHES batches in $(since "$t0") s"

# All the databases the sections use, created here so that cleanup sees them.
declare -A DB
for t in kill9 down giveup s1 s2 s3 s4 s5 s6 grow missing txn txnplain zc zplain ret; do
    DB[$t]=$(fresh_db "$t")
    dbs+=("$(dbname "${DB[$t]}")")
done

# ------------------------------------------------------------------ 1 kill9

s_kill9() {
    local db=${DB[kill9]} tag=kill9 k t_kill t_ready waited ready n_restore
    start_run $tag "$db" --topic "$TOPIC" --batch-size 200 --until-idle # group "bankstream"
    local run=$RUN_PID
    await_batches "$db" 15 "$run" $tag
    k=$(q "$db" "SELECT count(*) FROM batch_log")
    t_kill=$(now)
    broker_kill9
    echo "kill -9 of the broker after $k of $REF_BATCHES batches"
    waited=$(await_line "$W/$tag.err" "Kafka at $BROKERS unreachable" "$REPORT_BOUND") ||
        fail "no 'Kafka at $BROKERS unreachable' line within $REPORT_BOUND s of the kill"
    echo "outage reported $waited s after the kill: $(grep -m1 'unreachable' "$W/$tag.err" | cut -c1-160)"
    sleep 2
    alive "$run" || fail "the run ended while the broker was down: $(tail -2 "$W/$tag.err")"
    ready=$(broker_start)
    t_ready=$(now)
    echo "broker restarted on the same directory and port, ready in $ready s ($(since "$t_kill") s after the kill)"
    waited=$(await_line "$W/$tag.err" "Kafka at $BROKERS reachable again" "$RESUME_BOUND") ||
        fail "no 'reachable again' line within $RESUME_BOUND s of the broker's return"
    echo "end of outage reported $waited s after the broker was ready: $(grep -m1 'reachable again' "$W/$tag.err")"
    wait_run "$run" 120 "$db" || fail "the run did not end within 120 s of the restart"
    assert_eq "$RUN_RC" 0 "exit status after the broker's kill -9 ($(tail -2 "$W/$tag.err"))"
    n_restore=$(grep -c "restored state as of" "$W/$tag.err")
    assert_eq "$n_restore" 1 "restores in one run (the state is kept across the outage)"
    check_chain "$db" $tag
    compare_to_ref "$db" $tag
    echo "tables identical to the uninterrupted run ($REF_BATCHES batches); $(since "$t_ready") s from the broker's return to the end"
}

# ------------------------------------------------------------------ 2 down

s_down() {
    local db=${DB[down]} db2=${DB[giveup]} t_stop waited n rem ok=1
    start_run down "$db" "$(job down '[kafka]' 'group.id = k96_down')" \
        --topic "$TOPIC" --batch-size 200 --until-idle
    local run=$RUN_PID
    start_run giveup "$db2" "$(job giveup '[kafka]' 'group.id = k96_giveup' '[source]' "wait_seconds = $GIVEUP_WAIT")" \
        --topic "$TOPIC" --batch-size 200 --until-idle
    local run2=$RUN_PID
    await_batches "$db" 10 "$run" down
    await_batches "$db2" 10 "$run2" giveup
    t_stop=$(now)
    broker_stop
    echo "broker stopped (kafka.sh stop, SIGTERM) in $(since "$t_stop") s, $(q "$db" "SELECT count(*) FROM batch_log") of $REF_BATCHES batches committed"
    await_line "$W/down.err" "Kafka at $BROKERS unreachable" "$REPORT_BOUND" >/dev/null ||
        fail "no 'Kafka at $BROKERS unreachable' line within $REPORT_BOUND s of the stop"
    echo "outage reported at most $(since "$t_stop") s after the stop began: $(grep -m1 'unreachable' "$W/down.err" | cut -c1-160)"

    # The run with wait_seconds = 5 gives up, with one line naming the broker.
    if wait_run "$run2" $((GIVEUP_WAIT + GIVEUP_BOUND + 2)) "$db2"; then
        echo "wait_seconds = $GIVEUP_WAIT: the run exited $RUN_RC, $(since "$t_stop") s after the stop began"
        if [ "$RUN_RC" -eq 0 ]; then
            echo "FAILED: the run with wait_seconds = $GIVEUP_WAIT exited 0 with the broker down" >&2
            ok=0
        fi
        if ! grep -E "error.*$BROKERS.*wait_seconds|error.*wait_seconds.*$BROKERS" "$W/giveup.err" >/dev/null; then
            echo "FAILED: no error line naming the broker $BROKERS and wait_seconds: $(tail -3 "$W/giveup.err")" >&2
            ok=0
        else
            echo "its error: $(grep -m1 -E 'error' "$W/giveup.err" | cut -c1-200)"
        fi
    else
        echo "FAILED: the run with [source] wait_seconds = $GIVEUP_WAIT was still running $((GIVEUP_WAIT + GIVEUP_BOUND + 2)) s after the broker stopped (killed it); its last lines:" >&2
        tail -4 "$W/giveup.err" | cut -c1-200 >&2
        ok=0
    fi

    # Down for OUTAGE s in all.
    sleep "$(awk -v a="$t_stop" -v b="$EPOCHREALTIME" -v o="$OUTAGE" 'BEGIN { d = o - (b - a); print (d > 0 ? d : 0) }')"
    alive "$run" || fail "the run ended while the broker was down: $(tail -2 "$W/down.err")"
    n=$(grep -c "Kafka at $BROKERS still unreachable after" "$W/down.err" || true)
    rem=$(grep -oE "still unreachable after [0-9]+ s" "$W/down.err" | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $4 }')
    echo "reminders during $OUTAGE s: $n, at ${rem:-none} s"
    [ "$n" -ge 2 ] || fail "expected a reminder every ~10 s during the $OUTAGE s outage, got $n"
    awk '{ if ($4 < 8 + 10 * (NR - 1) || $4 > 13 + 10 * (NR - 1)) exit 1 }' \
        <<<"$(grep -oE "still unreachable after [0-9]+ s" "$W/down.err")" ||
        fail "reminders not ~10 s apart: at $rem s"
    echo "broker started again after $(since "$t_stop") s, ready in $(broker_start) s"
    waited=$(await_line "$W/down.err" "Kafka at $BROKERS reachable again" "$RESUME_BOUND") ||
        fail "no 'reachable again' line within $RESUME_BOUND s of the broker's return"
    echo "end of outage reported $waited s after the broker was ready: $(grep -m1 'reachable again' "$W/down.err")"
    wait_run "$run" 120 "$db" || fail "the run did not end within 120 s of the broker's return"
    assert_eq "$RUN_RC" 0 "exit status after the outage ($(tail -2 "$W/down.err"))"
    assert_eq "$(grep -c "restored state as of" "$W/down.err")" 1 "restores in one run"
    check_chain "$db" down
    compare_to_ref "$db" down
    echo "outage run: tables identical to the uninterrupted run"

    # The run that gave up left a consistent batch log; a second run completes it.
    check_chain "$db2" "giveup (after the first run)"
    n=$(q "$db2" "SELECT count(*) FROM batch_log")
    start_run giveup2 "$db2" "$W/giveup.ini" --topic "$TOPIC" --batch-size 200 --until-idle
    wait_run "$RUN_PID" 120 "$db2" || fail "the second run of the wait_seconds database did not end within 120 s"
    assert_eq "$RUN_RC" 0 "exit status of the second run of the wait_seconds database ($(tail -2 "$W/giveup2.err"))"
    compare_to_ref "$db2" "giveup, completed by a second run"
    echo "wait_seconds run: $n batches before giving up; a second run completed the topic identically to the reference"
    [ "$ok" -eq 1 ] || fail "the run with [source] wait_seconds = $GIVEUP_WAIT did not give up as it should (see above)"
}

# ------------------------------------------------------------------ 3 stop

# Send SIGUSR1 to a run `at` s after t_kill, then watch it and its ranks
# until every one is gone or STOP_BOUND s have passed (then kill -9 them).
# Writes $W/stopI.result: the seconds it took, or ">BOUND" and the pids left.
# One watcher per run, in the background: each keeps its own time.
stop_watch() { # i mpirun_pid db at t_kill
    local i=$1 pid=$2 db=$3 ranks t_sig left p
    sleep "$(awk -v a="$5" -v b="$EPOCHREALTIME" -v at="$4" 'BEGIN { d = at - (b - a); print (d > 0 ? d : 0) }')"
    ranks=$(rank_pids "$db" | tr '\n' ' ')
    t_sig=$(now)
    kill -USR1 "$pid"
    while :; do
        left=""
        for p in $pid $ranks; do alive "$p" && left="$left $p"; done
        if [ -z "$left" ]; then
            since "$t_sig" >"$W/stop$i.result"
            return 0
        fi
        if awk -v s="$(since "$t_sig")" -v b="$STOP_BOUND" 'BEGIN { exit !(s > b) }'; then
            # shellcheck disable=SC2086 # a list of pids
            ps -o pid=,stat=,wchan:20=,args= -p "$(tr ' ' , <<<"${left# }")" | cut -c1-160 >"$W/stop$i.ps" || true
            # shellcheck disable=SC2086
            kill -9 $left 2>/dev/null
            echo ">$STOP_BOUND$left" >"$W/stop$i.result"
            return 0
        fi
        sleep 0.2
    done
}

s_stop() {
    local i t_kill dbs3=() runs=() watchers=() at=(0.5 2 4 7 11 8) bad=0
    for i in 1 2 3 4 5; do
        dbs3+=("${DB[s$i]}")
        start_run "stop$i" "${DB[s$i]}" "$(job "stop$i" '[kafka]' "group.id = k96_stop$i")" \
            --topic "$TOPIC" --batch-size 200
        runs+=("$RUN_PID")
    done
    for i in 0 1 2 3 4; do await_batches "${dbs3[$i]}" 5 "${runs[$i]}" "stop$((i + 1))"; done
    t_kill=$(now)
    broker_kill9
    echo "kill -9 of the broker with 5 runs mid-stream ($(for d in "${dbs3[@]}"; do printf '%s ' "$(q "$d" "SELECT count(*) FROM batch_log")"; done)of $REF_BATCHES batches committed)"
    # A sixth run starts with the broker gone: it waits for it at start.
    start_run stop6 "${DB[s6]}" "$(job stop6 '[kafka]' 'group.id = k96_stop6')" --topic "$TOPIC" --batch-size 200
    runs+=("$RUN_PID")
    dbs3+=("${DB[s6]}")
    for i in 0 1 2 3 4 5; do
        stop_watch $((i + 1)) "${runs[$i]}" "${dbs3[$i]}" "${at[$i]}" "$t_kill" &
        watchers+=($!)
    done
    # (bash reports the runs killed by a watcher as it reaps them: quiet)
    local rcs=()
    {
        wait "${watchers[@]}"
        for i in 0 1 2 3 4 5; do
            rcs[i]=0
            wait "${runs[$i]}" || rcs[i]=$?
        done
    } 2>/dev/null
    echo "broker down for $(since "$t_kill") s; started again in $(broker_start) s"
    for i in 0 1 2 3 4 5; do
        local tag=stop$((i + 1)) what took rc=${rcs[$i]} said n
        took=$(cut -d' ' -f1 "$W/$tag.result")
        what="try $((i + 1)) ($([ "$i" -lt 5 ] && echo "mid-stream" || echo "waiting for the broker at start"), SIGUSR1 ${at[$i]} s into the outage)"
        if [[ "$took" == ">"* ]]; then
            echo "FAILED: $what: still running $STOP_BOUND s after SIGUSR1 (pids$(cut -d' ' -f2- -s "$W/$tag.result"); killed them); its last lines:" >&2
            tail -3 "$W/$tag.err" | cut -c1-200 | sed 's/^/    /' >&2
            echo "  the processes left (pid, state, wait channel):" >&2
            sed 's/^/    /' "$W/$tag.ps" >&2
            bad=1
        else
            echo "$what: every rank gone after $took s, exit $rc"
        fi
        if [[ "$took" == ">"* ]]; then
            :
        elif [ "$rc" -ne 0 ] && ! grep -q "error" "$W/$tag.err"; then
            echo "FAILED: $what: exit $rc without an error line" >&2
            bad=1
        elif [ "$rc" -eq 0 ] && [ "$i" -lt 5 ]; then
            said=$(grep -oE "^batches [0-9]+" "$W/$tag.out" | awk '{ print $2 }')
            n=$(q "${dbs3[$i]}" "SELECT count(*) FROM batch_log")
            if [ "$said" != "$n" ]; then
                echo "FAILED: $what: the summary says ${said:-no} batches, batch_log holds $n" >&2
                bad=1
            fi
        fi
        # Whatever happened, what was committed is the reference's beginning.
        (check_chain "${dbs3[$i]}" "$what" && compare_prefix_to_ref "${dbs3[$i]}" "$what") || bad=1
    done
    [ "$bad" -eq 0 ] || fail "a clean stop with the broker unreachable did not end cleanly within $STOP_BOUND s (see above)"
}

# ------------------------------------------------------------------ 4 grow

s_grow() {
    local db=${DB[grow]} topic waited hw
    topic=$(new_topic kgrow)
    "$KAFKA_SH" tool topics --bootstrap-server "$BROKERS" --create --topic "$topic" \
        --partitions 2 --replication-factor 1 >"$W/grow.topic" 2>&1 || fail "kafka-topics --create: $(cat "$W/grow.topic")"
    produce "$topic" 3000 41 1750001000000
    start_run grow "$db" "$(job grow '[kafka]' 'group.id = k96_grow')" --topic "$topic" --batch-size 500
    local run=$RUN_PID
    await_messages "$db" 3000 60 "$run" grow
    assert_eq "$(q "$db" "SELECT cardinality(end_offsets) FROM batch_log ORDER BY batch_id DESC LIMIT 1")" 2 \
        "partitions in batch_log before the topic grows"
    "$KAFKA_SH" tool topics --bootstrap-server "$BROKERS" --alter --topic "$topic" --partitions 4 \
        >"$W/grow.alter" 2>&1 || fail "kafka-topics --alter: $(cat "$W/grow.alter")"
    produce "$topic" 3000 42 1750002000000
    topic_offsets "$topic" | awk '{ print $1 }' | sort | uniq -c | tr -s ' ' >"$W/grow.parts"
    echo "topic grown from 2 to 4 partitions; messages per partition: $(tr '\n' ';' <"$W/grow.parts")"
    [ "$(grep -cE ' [23]$' "$W/grow.parts")" -eq 2 ] || fail "the producer wrote nothing to the new partitions"
    waited=$(await_line "$W/grow.err" "grew from 2 to 4 partitions" 25) ||
        fail "the run did not report the new partitions within 25 s: $(tail -2 "$W/grow.err")"
    echo "the run saw the new partitions $waited s after the second producer ended: $(grep -m1 'grew from' "$W/grow.err")"
    await_messages "$db" 6000 60 "$run" grow
    kill -USR1 "$run"
    wait_run "$run" "$STOP_BOUND" "$db" || fail "the run did not stop within $STOP_BOUND s of SIGUSR1"
    assert_eq "$RUN_RC" 0 "exit status after SIGUSR1"
    hw=$(high_watermarks "$topic" 4)
    assert_eq "$(q "$db" "SELECT end_offsets FROM batch_log ORDER BY batch_id DESC LIMIT 1")" "$hw" \
        "the last batch's end_offsets (4 partitions) against the high watermarks"
    check_chain "$db" grow
    check_every_offset_once "$db" "$topic" grow
    check_lag0 "$(describe_groups)" k96_grow "$topic" 4 grow
}

# ------------------------------------------------------------------ 5 missing

s_missing() {
    local db=${DB[missing]} topic waited
    topic=$(new_topic kmissing)
    start_run missing "$db" "$(job missing '[kafka]' 'group.id = k96_missing')" --topic "$topic" --batch-size 500
    local run=$RUN_PID
    waited=$(await_line "$W/missing.err" "does not exist.*waiting" 20) ||
        fail "no 'does not exist ... waiting' line within 20 s: $(tail -2 "$W/missing.err")"
    echo "the run says it waits $waited s after its start: $(grep -m1 'does not exist' "$W/missing.err" | cut -c1-200)"
    sleep 2
    alive "$run" || fail "the run ended while the topic did not exist: $(tail -2 "$W/missing.err")"
    produce "$topic" 2000 51 1750003000000
    waited=$(await_line "$W/missing.err" "topic '$topic' found" 20) ||
        fail "no 'topic ... found' line within 20 s of the producer: $(tail -2 "$W/missing.err")"
    echo "found $waited s after the producer ended: $(grep -m1 "found after" "$W/missing.err")"
    await_messages "$db" 2000 60 "$run" missing
    kill -USR1 "$run"
    wait_run "$run" "$STOP_BOUND" "$db" || fail "the run did not stop within $STOP_BOUND s of SIGUSR1"
    assert_eq "$RUN_RC" 0 "exit status after SIGUSR1"
    check_chain "$db" missing
    check_every_offset_once "$db" "$topic" missing
    check_lag0 "$(describe_groups)" k96_missing "$topic" 4 missing
}

# ------------------------------------------------------------------ 6 lag

s_lag() {
    local g
    g=$(describe_groups)
    [ -n "$g" ] || fail "consumer-groups --describe --all-groups printed nothing: $(head -3 "$W/groups.err")"
    check_lag0 "$g" k96_ref "$TOPIC" 4 "plain run"
    check_lag0 "$g" bankstream "$TOPIC" 4 "after the broker's kill -9"
    check_lag0 "$g" k96_down "$TOPIC" 4 "after the broker was down for $OUTAGE s"
    # And as the README shows it, for the default group alone.
    "$KAFKA_SH" tool consumer-groups --bootstrap-server "$BROKERS" --describe --group bankstream \
        2>/dev/null | awk -v t="$TOPIC" '$2 == t' >"$W/lag.bankstream"
    assert_eq "$(awk '$6 == "0"' "$W/lag.bankstream" | wc -l)" 4 \
        "partitions of $TOPIC with LAG 0 in 'consumer-groups --describe --group bankstream'"
}

# ------------------------------------------------------------------ 7 txn

# The decisions of db that do not depend on where a message sits in its
# topic (offsets, Kafka timestamps, the topic's name).
decisions() { # db dir
    mkdir -p "$2"
    psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "COPY (SELECT id_transacao, id_usuario_pagador,
        id_usuario_recebedor, id_regiao, modalidade_pagamento, data_horario, valor_transacao,
        transacao_aprovada, status, motivo, batch_id, kafka_particao
        FROM transacoes ORDER BY id_transacao) TO STDOUT" >"$2/transacoes"
    psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "COPY (SELECT batch_id, n_mensagens, n_aprovadas,
        n_rejeitadas, n_nao_processadas, n_dead_letters FROM batch_log ORDER BY batch_id) TO STDOUT" >"$2/batch_log"
    psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM transacoes_scores
        ORDER BY id_transacao) TO STDOUT" >"$2/scores"
}
same_decisions() { # db1 db2 what
    local t
    decisions "$1" "$W/dec1"
    decisions "$2" "$W/dec2"
    for t in transacoes batch_log scores; do
        cmp -s "$W/dec1/$t" "$W/dec2/$t" || {
            diff "$W/dec1/$t" "$W/dec2/$t" | head -6 >&2
            fail "$3: $t differ ($(wc -l <"$W/dec1/$t") vs $(wc -l <"$W/dec2/$t") rows)"
        }
    done
}

s_txn() {
    [ -x "$PYKAFKA" ] || fail "no Python with confluent-kafka at $PYKAFKA: run 'make deps' (scripts/install-deps.sh installs it)"
    local topic plain hw aborted
    topic=$(new_topic ktxn)
    plain=$(new_topic ktxnplain)
    produce_lines 900 71 1750004000000 >"$W/txn.lines"
    "$PYKAFKA" "$ROOT/tests/kafka/txn_produce.py" "$BROKERS" "$topic" "$W/txn.lines" \
        commit:300,abort:300,commit:300 --transactional-id "k96-$$" 2>"$W/txn.produce" ||
        fail "transactional producer: $(tail -3 "$W/txn.produce")"
    { head -300 "$W/txn.lines"; tail -300 "$W/txn.lines"; } | kcat -b "$BROKERS" -t "$plain" -P -K $'\t'
    # The topic holds the aborted messages and the markers (read_uncommitted).
    assert_eq "$(timeout 60 kcat -b "$BROKERS" -C -t "$topic" -e -q -X isolation.level=read_uncommitted -f 'x\n' | wc -l)" 900 \
        "messages in the log of the transactional topic, aborted ones included"
    "$KAFKA_SH" tool dump-log --files "$KDIR/data/$topic-0/00000000000000000000.log" >"$W/txn.dump" 2>/dev/null
    assert_eq "$(grep -c 'isControl: true' "$W/txn.dump")" 3 "transaction markers in partition 0 (commit, abort, commit)"

    start_run txn "${DB[txn]}" "$(job txn '[kafka]' 'group.id = k96_txn')" --topic "$topic" --batch-size 100 --until-idle
    wait_run "$RUN_PID" 60 "${DB[txn]}" || fail "the run on the transactional topic did not end within 60 s"
    assert_eq "$RUN_RC" 0 "exit status on the transactional topic ($(tail -2 "$W/txn.err"))"
    start_run txnplain "${DB[txnplain]}" "$(job txnplain '[kafka]' 'group.id = k96_txnplain')" --topic "$plain" --batch-size 100 --until-idle
    wait_run "$RUN_PID" 60 "${DB[txnplain]}" || fail "the run on the plain topic did not end within 60 s"
    assert_eq "$RUN_RC" 0 "exit status on the plain topic ($(tail -2 "$W/txnplain.err"))"

    sed -n '301,600p' "$W/txn.lines" | sed 's/.*"id_transacao": *"\([^"]*\)".*/\1/' >"$W/txn.aborted"
    [ "$(wc -l <"$W/txn.aborted")" -eq 300 ] || fail "could not read the ids of the aborted messages"
    aborted=$(q "${DB[txn]}" "SELECT count(*) FROM (SELECT id_transacao::text AS id FROM transacoes
        UNION ALL SELECT id_transacao::text FROM transacoes_duplicadas) r
        WHERE id IN ($(sed "s/.*/'&'/" "$W/txn.aborted" | paste -sd,))")
    assert_eq "$aborted" 0 "rows of aborted messages"
    assert_eq "$(q "${DB[txn]}" "SELECT count(*) FROM transacoes")" 600 "rows of committed messages"
    assert_eq "$(q "${DB[txn]}" "SELECT count(*) FROM dead_letters")" 0 "dead letters on the transactional topic"
    check_chain "${DB[txn]}" txn
    same_decisions "${DB[txn]}" "${DB[txnplain]}" "transactional topic vs plain topic of its committed messages"
    echo "600 committed messages decided as on a plain topic; none of the 300 aborted"
    hw=$(high_watermarks "$topic" 4)
    assert_eq "$(q "${DB[txn]}" "SELECT end_offsets FROM batch_log ORDER BY batch_id DESC LIMIT 1")" "$hw" \
        "the last batch's end_offsets against the high watermarks (past the last commit markers)"
    check_lag0 "$(describe_groups)" k96_txn "$topic" 4 txn
}

# ------------------------------------------------------------------ 8 compress

s_compress() {
    local zt pt
    zt=$(new_topic kzstdlz4)
    pt=$(new_topic kplain)
    produce_lines 4000 81 1750005000000 >"$W/z.lines"
    head -2000 "$W/z.lines" | kcat -b "$BROKERS" -t "$zt" -P -K $'\t' -z zstd
    tail -2000 "$W/z.lines" | kcat -b "$BROKERS" -t "$zt" -P -K $'\t' -z lz4
    kcat -b "$BROKERS" -t "$pt" -P -K $'\t' <"$W/z.lines"
    "$KAFKA_SH" tool dump-log --files "$KDIR/data/$zt-0/00000000000000000000.log" >"$W/z.dump" 2>/dev/null
    "$KAFKA_SH" tool dump-log --files "$KDIR/data/$pt-0/00000000000000000000.log" >"$W/p.dump" 2>/dev/null
    local codecs
    codecs=$(grep -oE 'compresscodec: [a-z0-9]+' "$W/z.dump" | sort | uniq -c | tr -s ' ' | paste -sd,)
    echo "partition 0 of the compressed topic: batches by codec:$codecs; plain:$(grep -oE 'compresscodec: [a-z0-9]+' "$W/p.dump" | sort | uniq -c | tr -s ' ' | paste -sd,)"
    grep -q 'compresscodec: zstd' "$W/z.dump" || fail "no zstd batch in $zt"
    grep -q 'compresscodec: lz4' "$W/z.dump" || fail "no lz4 batch in $zt"
    start_run zc "${DB[zc]}" "$(job zc '[kafka]' 'group.id = k96_zc')" --topic "$zt" --batch-size 250 --until-idle
    wait_run "$RUN_PID" 60 "${DB[zc]}" || fail "the run on the compressed topic did not end within 60 s"
    assert_eq "$RUN_RC" 0 "exit status on the compressed topic ($(tail -2 "$W/zc.err"))"
    start_run zplain "${DB[zplain]}" "$(job zplain '[kafka]' 'group.id = k96_zplain')" --topic "$pt" --batch-size 250 --until-idle
    wait_run "$RUN_PID" 60 "${DB[zplain]}" || fail "the run on the plain topic did not end within 60 s"
    assert_eq "$RUN_RC" 0 "exit status on the plain topic"
    check_every_offset_once "${DB[zc]}" "$zt" compress
    same_decisions "${DB[zc]}" "${DB[zplain]}" "zstd/lz4 topic vs the same messages uncompressed"
    assert_eq "$(q "${DB[zc]}" "SELECT array_agg(end_offsets ORDER BY batch_id)::text FROM batch_log")" \
        "$(q "${DB[zplain]}" "SELECT array_agg(end_offsets ORDER BY batch_id)::text FROM batch_log")" \
        "batch offsets, compressed vs plain"
    echo "4000 messages (2000 zstd, 2000 lz4) decided exactly as uncompressed"
}

# ------------------------------------------------------------------ 9 retention

# What `run` does when records it has not read yet were deleted (retention,
# delete-records): it refuses, naming the partition and the deleted range
# and the ways on; with --accept-gap it goes on from the log start and says
# so in batch_log.nota (issue 12.2). Before that change it warned and
# skipped (RETENTION_EXPECT=skip describes that behaviour).
RETENTION_EXPECT=refuse
retention_refused() { # db topic e0 rc errfile
    local db=$1 topic=$2 e0=$3 rc=$4 err=$5
    [ "$rc" -ne 0 ] || fail "a run after unread records were deleted exited 0"
    assert_contains "$(cat "$err")" "$topic [0]: offsets $e0..$((e0 + 99)) were deleted" \
        "the refusal names the deleted range of partition 0"
    assert_contains "$(cat "$err")" "--accept-gap" "the refusal names the way on"
    assert_eq "$(q "$db" "SELECT count(*) FROM transacoes")" 2000 "nothing written by the refused run"
    start_run ret3 "$db" "$W/ret.ini" --topic "$topic" --batch-size 250 --until-idle --accept-gap
    wait_run "$RUN_PID" 60 "$db" || fail "the --accept-gap run did not end within 60 s"
    assert_eq "$RUN_RC" 0 "exit status of the --accept-gap run"
    assert_eq "$(q "$db" "SELECT count(*) FROM transacoes")" 3900 "rows: 4000 produced, 100 deleted unread"
    assert_contains "$(q "$db" "SELECT nota FROM batch_log WHERE nota IS NOT NULL")" \
        "offsets $e0..$((e0 + 99)) were deleted" "batch_log.nota records the accepted gap"
}
retention_expectation() { # db topic e0 rc errfile
    local db=$1 topic=$2 e0=$3 rc=$4 err=$5
    case "$RETENTION_EXPECT" in
    skip)
        assert_eq "$rc" 0 "exit status of the run after the deletion (today: skip with a warning)"
        assert_contains "$(cat "$err")" "$topic [0]: offsets $e0..$((e0 + 99)) were deleted by retention" \
            "the warning about the deleted range of partition 0"
        assert_eq "$(grep -c 'deleted by retention' "$err")" 1 \
            "warnings about deleted offsets (only partition 0 lost unread records)"
        assert_eq "$(q "$db" "SELECT count(*) FROM transacoes")" 3900 "rows: 4000 produced, 100 deleted unread"
        assert_eq "$(q "$db" "SELECT b.start_offsets[1] - p.end_offsets[1] FROM batch_log b
                               JOIN batch_log p ON p.batch_id = b.batch_id - 1
                              WHERE b.start_offsets <> p.end_offsets")" 100 \
            "the hole in partition 0 between two batches of batch_log"
        ;;
    refuse)
        retention_refused "$@"
        ;;
    esac
}

s_retention() {
    local db=${DB[ret]} topic e hw0 e0 rc
    topic=$(new_topic kretention)
    produce "$topic" 2000 91 1750006000000
    start_run ret1 "$db" "$(job ret '[kafka]' 'group.id = k96_ret')" --topic "$topic" --batch-size 250 --until-idle
    wait_run "$RUN_PID" 60 "$db" || fail "the first run did not end within 60 s"
    assert_eq "$RUN_RC" 0 "exit status of the first run"
    e=$(q "$db" "SELECT end_offsets FROM batch_log ORDER BY batch_id DESC LIMIT 1")
    produce "$topic" 2000 92 1750007000000
    e0=$(tr -d '{}' <<<"$e" | cut -d, -f1)
    local e1
    e1=$(tr -d '{}' <<<"$e" | cut -d, -f2)
    # Partition 0: 100 records nobody read yet; partition 1: exactly the read ones.
    printf '{"version":1,"partitions":[{"topic":"%s","partition":0,"offset":%d},{"topic":"%s","partition":1,"offset":%d}]}\n' \
        "$topic" $((e0 + 100)) "$topic" "$e1" >"$W/ret.json"
    "$KAFKA_SH" tool delete-records --bootstrap-server "$BROKERS" --offset-json-file "$W/ret.json" \
        >"$W/ret.delete" 2>&1 || fail "delete-records: $(tail -3 "$W/ret.delete")"
    hw0=$(timeout 30 kcat -b "$BROKERS" -Q -t "$topic:0:-2" | awk '{ print $NF }')
    echo "after run 1 (end offsets $e, 2000 more produced): delete-records up to $((e0 + 100)) on partition 0 (log start now $hw0), up to $e1 on partition 1"
    start_run ret2 "$db" "$W/ret.ini" --topic "$topic" --batch-size 250 --until-idle
    wait_run "$RUN_PID" 60 "$db" || fail "the second run did not end within 60 s"
    rc=$RUN_RC
    echo "the second run exited $rc; what it said:"
    grep -vE "^bankstream run: (restored|consuming|committed)" "$W/ret2.err" | cut -c1-220 | sed 's/^/    /'
    echo "rows stored: $(q "$db" "SELECT count(*) FROM transacoes") of 4000 produced; batches around the hole:"
    q "$db" "SELECT batch_id, start_offsets, end_offsets, n_mensagens FROM batch_log b
              WHERE EXISTS (SELECT 1 FROM batch_log p WHERE p.batch_id IN (b.batch_id - 1, b.batch_id + 1)
                            AND (p.start_offsets <> b.end_offsets AND p.batch_id = b.batch_id + 1
                                 OR b.start_offsets <> p.end_offsets AND p.batch_id = b.batch_id - 1))
              ORDER BY batch_id" | sed 's/^/    /'
    retention_expectation "$db" "$topic" "$e0" "$rc" "$W/ret2.err"
}

# ------------------------------------------------------------------ run them

section kill9 "kill -9 of the broker mid-run, restart on the same log" s_kill9
section down "the broker down for $OUTAGE s; [source] wait_seconds = $GIVEUP_WAIT gives up" s_down
section stop "SIGUSR1 with the broker unreachable: every rank gone within $STOP_BOUND s" s_stop
section grow "partitions added while running" s_grow
section missing "run started before its topic exists" s_missing
section lag "consumer-group lag in Kafka's own tool" s_lag
section txn "transactional producer with an aborted transaction" s_txn
section compress "zstd and lz4 batches" s_compress
section retention "records deleted before they were read: refused, then --accept-gap" s_retention

echo
echo "timings: ${times[*]/%/;}"
echo "sections passed: ${passed[*]:-none}"
if [ ${#failed[@]} -gt 0 ]; then
    for name in "${failed[@]}"; do
        echo "section $name:"
        grep -E "^FAILED" "$W/section.$name" | head -8 | cut -c1-240 | sed 's/^/  /'
    done
    fail "sections failed: ${failed[*]} (rerun: tests/run 96-kafka; logs in $W)"
fi
echo "all sections passed"
