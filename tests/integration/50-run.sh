#!/usr/bin/env bash
# 50-run.sh - `bankstream run` as a user drives it: a small stream end to end,
# the original's views over our rows, latency columns, Kafka lag, bad
# configuration, a graceful stop with SIGUSR1, new messages after a stop, the
# CPU of an idle run and its group offsets committed while it runs, and a
# warning when another consumer in its group makes Kafka refuse them.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

PG=$(new_database run --users 500)
TOPIC=$(new_topic run)
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count 3000 \
    --rate 0 --seed 5 --historic 100 --quiet

# 1. A stream to the end: every message becomes exactly one row somewhere.
out=$(mpirun_bs 2 run --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --batch-size 500 --until-idle 2>&1)
echo "$out"
assert_contains "$out" "messages 3000" "run summary"
rows=$(psql_q "$PG" "SELECT (SELECT count(*) FROM transacoes) + (SELECT count(*) FROM
    transacoes_duplicadas) + (SELECT count(*) FROM dead_letters)")
assert_eq "$rows" 3000 "rows written for 3000 messages"
approved=$(psql_q "$PG" "SELECT count(*) FROM transacoes WHERE status = 'aprovada'")
assert_contains "$out" "approved $approved" "summary approved count vs table"

# Statuses and columns are consistent with each other.
bad=$(psql_q "$PG" "SELECT count(*) FROM transacoes WHERE
    transacao_aprovada IS NULL OR (status = 'aprovada') <> transacao_aprovada
    OR (status = 'aprovada') <> (motivo IS NULL)")
assert_eq "$bad" 0 "status, motivo and transacao_aprovada (never NULL) agree"

# 2. Latency columns: Kafka timestamp <= start <= result, total = result - kafka.
bad=$(psql_q "$PG" "SELECT count(*) FROM transacoes WHERE tempo_entrada_kafka IS NULL
    OR tempo_inicio_processamento < tempo_entrada_kafka
    OR tempo_saida_resultado < tempo_inicio_processamento
    OR latencia_total_ms <> (extract(epoch FROM tempo_saida_resultado - tempo_entrada_kafka)
                              * 1000)::bigint
    OR tempo_processamento_ms < 0 OR latencia_total_ms < tempo_processamento_ms")
assert_eq "$bad" 0 "latency columns consistent"
n=$(psql_q "$PG" "SELECT sum(total_transacoes) FROM vw_performance_stats")
assert_eq "$n" "$(psql_q "$PG" "SELECT count(*) FROM transacoes")" "vw_performance_stats covers all rows"
n=$(psql_q "$PG" "SELECT count(*) FROM vw_performance_temporal WHERE latencia_media_ms >= 0")
[ "$n" -ge 1 ] || fail "vw_performance_temporal returns rows"

# 3. Offsets were committed to Kafka (lag visible to Kafka tools): a consumer
#    of group "bankstream" resumes at the committed offsets and finds nothing
#    new, while a consumer of a fresh group reads every message.
group_count() { # group -> messages a group consumer sees before going idle
    timeout 60 kcat -b "$BS_TEST_BROKERS" -G "$1" -X auto.offset.reset=earliest \
        -X enable.auto.commit=false -e -q -f 'x\n' "$TOPIC" | wc -l
}
assert_eq "$(group_count "fresh_$$")" 3000 "a new consumer group sees all messages"
assert_eq "$(group_count bankstream)" 0 "group bankstream has committed every offset"

# 4. Bad configuration: named key and fix, exit 2, nothing written.
printf '[batch]\nsize = lots\n' >"$BS_TEST_TMP/bad.ini"
assert_fails "[batch] size = 'lots' is not valid" mpirun_bs 1 run "$BS_TEST_TMP/bad.ini" --pg "$PG"
printf '[rules]\nthreshold = 6\n' >"$BS_TEST_TMP/bad2.ini"
assert_fails "unknown key 'threshold'" mpirun_bs 1 run "$BS_TEST_TMP/bad2.ini" --pg "$PG"
assert_fails "--batch-size expects" mpirun_bs 1 run --batch-size -3 --pg "$PG"
assert_fails "unknown option" mpirun_bs 1 run --bogus --pg "$PG"
printf '[sink]\nretry_seconds = 2\n' >"$BS_TEST_TMP/wait2.ini"
t0=$SECONDS
assert_fails "cannot connect" mpirun_bs 1 run "$BS_TEST_TMP/wait2.ini" \
    --pg "host=127.0.0.1 port=1 dbname=x" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC"
[ $((SECONDS - t0)) -ge 2 ] || fail "a database that is down at start is waited for (retry_seconds)"
assert_fails "not a regular file" mpirun_bs 1 run "$BS_TEST_TMP" --pg "$PG"
printf '[kafka]\nenable.partition.eof = false\n' >"$BS_TEST_TMP/eof.ini"
assert_fails "[kafka] enable.partition.eof cannot be set" mpirun_bs 1 run "$BS_TEST_TMP/eof.ini" --pg "$PG"
printf '[kafka]\nauto.offset.reset = earliest\n' >"$BS_TEST_TMP/reset.ini"
assert_fails "[kafka] auto.offset.reset cannot be set" mpirun_bs 1 run "$BS_TEST_TMP/reset.ini" --pg "$PG"
assert_fails "--topic needs a value" "$BANKSTREAM" run --topic "" --pg "$PG"

# 5. New messages, a long-running job, and a graceful stop with SIGUSR1.
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count 1000 \
    --rate 0 --seed 6 --historic 0 --quiet
MPORT=$(free_port)
printf '[metrics]\nport = %s\n[kafka]\ngroup.id = run_long\n' "$MPORT" >"$BS_TEST_TMP/metrics.ini"
mpirun_bs 3 run "$BS_TEST_TMP/metrics.ini" --pg "$PG" --brokers "$BS_TEST_BROKERS" \
    --topic "$TOPIC" --batch-size 200 >"$BS_TEST_TMP/long.out" 2>&1 &
pid=$!
# A failed check below must not leave this run going (its mpirun and ranks).
trap 'kill -0 $pid 2>/dev/null && { pkill -9 -f -- "--topic $TOPIC " || true; }' EXIT
committed_after() { # n -> the messages batch_log holds, once n or after 20 s
    local n
    for _ in $(seq 100); do
        n=$(psql_q "$PG" "SELECT coalesce(sum(n_mensagens), 0) FROM batch_log")
        [ "$n" -ge "$1" ] && break
        sleep 0.2
    done
    echo "$n"
}
assert_eq "$(committed_after 4000)" 4000 "long-running job caught up"
# An idle stream costs next to no CPU: each rank (rank 0 polls Kafka, the two
# workers wait for its next command) under 5% of a core over 4 s. Before,
# a worker's wait tested every 50 µs and took 15-18% of a core.
cpu_ticks() { # pid -> its user + system CPU time in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
ranks=()
for p in $(pgrep -f -- "--topic $TOPIC "); do
    [ "$(cat "/proc/$p/comm")" = bankstream ] && ranks+=("$p")
done
assert_eq "${#ranks[@]}" 3 "processes of the 3 ranks found"
before=()
for p in "${ranks[@]}"; do before+=("$(cpu_ticks "$p")"); done
t0=$(date +%s%N)
sleep 4
hz=$(getconf CLK_TCK)
for i in "${!ranks[@]}"; do
    used=$(($(cpu_ticks "${ranks[$i]}") - ${before[$i]}))
    pct=$((used * 100 * 1000000000 / hz / ($(date +%s%N) - t0)))
    echo "idle rank process ${ranks[$i]}: $used ticks, $pct% of a core"
    [ "$pct" -lt 5 ] || fail "an idle rank took $pct% of a core (at most 4% expected)"
done
# The group's offsets reached the end while the run goes on, not only at its
# stop. (Its own group: section 3's consumer of group bankstream may still be
# a member there, and Kafka refuses the offsets of a consumer outside a group
# that has members: section 6.)
assert_eq "$(group_count run_long)" 0 "group run_long committed every offset, the run idle"
# Prometheus: the counters of this run (1000 new messages) and the rank count.
metrics=$(curl -sf "http://127.0.0.1:$MPORT/metrics") || fail "no /metrics on port $MPORT"
assert_contains "$metrics" "bankstream_messages_total 1000" "metrics message count"
assert_contains "$metrics" "bankstream_ranks 3" "metrics rank count"
pkill -USR1 -f "^mpirun.*$TOPIC" || fail "no mpirun to signal"
rc=0; wait $pid || rc=$?
cat "$BS_TEST_TMP/long.out"
assert_eq "$rc" 0 "exit status after SIGUSR1"
assert_contains "$(cat "$BS_TEST_TMP/long.out")" "stop requested" "graceful stop logged"

# 6. Another consumer is a member of the run's group (kcat -G here; a console
#    consumer or a Spark job left on the same group.id alike): the broker
#    refuses the run's group offsets, which only move Kafka tools' lag, so the
#    run goes on, and says why that lag stays.
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count 300 \
    --rate 0 --seed 7 --historic 0 --quiet
kcat -b "$BS_TEST_BROKERS" -G "shared_$$" -X auto.offset.reset=earliest \
    -X enable.auto.commit=false -u -q -f 'x\n' "$TOPIC" \
    >"$BS_TEST_TMP/member.out" 2>"$BS_TEST_TMP/member.err" &
member=$!
trap 'kill $member 2>/dev/null || true
      kill -0 $pid 2>/dev/null && { pkill -9 -f -- "--topic $TOPIC " || true; }' EXIT
for _ in $(seq 300); do # the member has joined once it reads the topic
    [ "$(wc -l <"$BS_TEST_TMP/member.out")" -ge 4300 ] && break
    sleep 0.1
done
assert_eq "$(wc -l <"$BS_TEST_TMP/member.out")" 4300 "the group member reads the topic"
printf '[kafka]\ngroup.id = shared_%s\n' "$$" >"$BS_TEST_TMP/shared.ini"
mpirun_bs 1 run "$BS_TEST_TMP/shared.ini" --pg "$PG" --brokers "$BS_TEST_BROKERS" \
    --topic "$TOPIC" --batch-size 100 >"$BS_TEST_TMP/shared.out" 2>&1 &
pid=$!
assert_eq "$(committed_after 4300)" 4300 "the run went on with a member in its group"
warned=0
for _ in $(seq 100); do
    grep -q "refuses the offsets of group 'shared_$$'" "$BS_TEST_TMP/shared.out" && warned=1 && break
    sleep 0.1
done
pkill -USR1 -f "^mpirun.*$TOPIC" || fail "no mpirun to signal"
rc=0; wait $pid || rc=$?
kill $member 2>/dev/null || true
cat "$BS_TEST_TMP/shared.out"
assert_eq "$rc" 0 "exit status after SIGUSR1"
assert_eq "$warned" 1 "the run says that a member of its group refuses its offsets"
assert_eq "$(grep -c "refuses the offsets" "$BS_TEST_TMP/shared.out")" 1 \
    "said once (a minute), not per commit"
echo "ok"
