#!/usr/bin/env bash
# tests/bench/pipeline.sh - the processor's figures (issue: MPI micro-batch processor).
#
# In one run, on one embedded PostgreSQL cluster and one embedded broker:
#  (a) end to end: N transactions pre-loaded in the broker, U users,
#      `mpirun -np RANKS bankstream run --until-idle`, Kafka to committed rows;
#  (b) the database's ceiling: `psql \copy` of the same rows (dumped to CSV
#      files) into the same tables with the same indexes, in a second database;
#  (c) rank 0's consume + decode (+ decide) rate with the sink off;
#  (d) latency p50/p99 with the producer at a steady RATE transactions/s;
#  (a') (a) again into a third database with [sink] connections = N (each
#      batch's rows through N sessions at once, two-phase commit), and its
#      rate against (b)'s, for each N of BENCH_CONNECTIONS.
# Every figure goes with the machine's load average (a shared machine).
# Environment: BENCH_COUNT (1000000), BENCH_USERS (100000), BENCH_RANKS (2),
# BENCH_RATE (20000), BENCH_STEADY_SECONDS (20), BENCH_BATCH (10000),
# BENCH_CONNECTIONS ("3": the embedded cluster's default).
set -euo pipefail
cd "$(dirname "$0")/../.."
BS=$PWD/bankstream
COUNT=${BENCH_COUNT:-1000000}
USERS=${BENCH_USERS:-100000}
RANKS=${BENCH_RANKS:-2}
RATE=${BENCH_RATE:-20000}
STEADY=${BENCH_STEADY_SECONDS:-20}
BATCH=${BENCH_BATCH:-10000}
CONNECTIONS=${BENCH_CONNECTIONS:-3}
source tests/bench/lib.sh
bench_services
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):,.0f}')" "$@"; }
load() { echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

PG_A=$(new_database bench_a)
PG_B=$(new_database bench_b)
TOPIC=$(new_topic bench)
"$BANKSTREAM" init --pg "$PG_A" --users "$USERS" >/dev/null
"$BANKSTREAM" init --pg "$PG_B" --users "$USERS" >/dev/null
"$BANKSTREAM" produce --pg "$PG_A" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --count "$COUNT" --rate 0 --seed 42 --start-time 1750000000000 --historic 0 --quiet

echo "== (c) consume + decode + decide, sink off, -np $RANKS"
t0=$(now)
mpirun_bs "$RANKS" run --pg "$PG_A" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --batch-size "$BATCH" --until-idle --sink none | grep -E "^batches"
t1=$(now)
echo "   wall (incl. start-up): $(rate "$COUNT" "$(echo "$t1 - $t0" | bc)") tx/s"

echo "== (a) end to end, Kafka -> committed rows, -np $RANKS, $COUNT tx, $USERS users"
t0=$(now)
mpirun_bs "$RANKS" run --pg "$PG_A" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --batch-size "$BATCH" --until-idle | grep -E "^batches|^rank|^latency|^sink"
t1=$(now)
secs_a=$(echo "$t1 - $t0" | bc)
rows=$(psql_q "$PG_A" "SELECT count(*) FROM transacoes")
echo "   $rows rows in $secs_a s (incl. start-up): $(rate "$rows" "$secs_a") tx/s"
load

echo "== (b) psql \\copy of the same rows into the same tables and indexes"
psql_q "$PG_A" "\\copy transacoes TO '$BS_TEST_TMP/transacoes.csv' WITH (FORMAT csv)"
psql_q "$PG_A" "\\copy transacoes_scores TO '$BS_TEST_TMP/scores.csv' WITH (FORMAT csv)"
t0=$(now)
psql "$PG_B" -Xq -v ON_ERROR_STOP=1 <<SQL
\\copy transacoes FROM '$BS_TEST_TMP/transacoes.csv' WITH (FORMAT csv)
\\copy transacoes_scores FROM '$BS_TEST_TMP/scores.csv' WITH (FORMAT csv)
SQL
t1=$(now)
secs_b=$(echo "$t1 - $t0" | bc)
echo "   $rows rows in $secs_b s: $(rate "$rows" "$secs_b") tx/s"
python3 -c "import sys; print(f'   (a)/(b) = {float(sys.argv[2]) / float(sys.argv[1]) * 100:.0f}% (goal >= 80%)')" \
    "$secs_a" "$secs_b"
load

for n in $CONNECTIONS; do
    echo "== (a') end to end as (a), each batch's rows through $n connections ([sink] connections = $n)"
    PG_N=$(new_database "bench_a$n")
    "$BANKSTREAM" init --pg "$PG_N" --users "$USERS" >/dev/null
    printf '[sink]\nconnections = %s\n' "$n" >"$BS_TEST_TMP/connections$n.ini"
    t0=$(now)
    mpirun_bs "$RANKS" run "$BS_TEST_TMP/connections$n.ini" --pg "$PG_N" \
        --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --batch-size "$BATCH" --until-idle |
        grep -E "^batches|^latency|^sink"
    t1=$(now)
    secs_n=$(echo "$t1 - $t0" | bc)
    rows_n=$(psql_q "$PG_N" "SELECT count(*) FROM transacoes")
    echo "   $rows_n rows in $secs_n s (incl. start-up): $(rate "$rows_n" "$secs_n") tx/s"
    python3 -c "import sys; print(f\"   (a')/(b) = {float(sys.argv[2]) / float(sys.argv[1]) * 100:.0f}% with {sys.argv[3]} connections (goal >= 130%)\")" \
        "$secs_n" "$secs_b" "$n"
    load
    psql_q "$BS_TEST_PG" "DROP DATABASE $(db_name "$PG_N")" >/dev/null
done

echo "== (d) latency at a steady $RATE tx/s for $STEADY s, -np $RANKS"
PG_C=$(new_database bench_c)
TOPIC_D=$(new_topic steady)
"$BANKSTREAM" init --pg "$PG_C" --users "$USERS" >/dev/null
mpirun_bs "$RANKS" run --pg "$PG_C" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC_D" \
    --batch-size "$BATCH" --batch-ms 100 --quiet &
RUN_PID=$!
sleep 3
"$BANKSTREAM" produce --pg "$PG_C" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC_D" \
    --count $((RATE * STEADY)) --rate "$RATE" --historic 0 --quiet
sleep 3
pkill -USR1 -f "^mpirun.*$TOPIC_D" || true
wait $RUN_PID || true
psql_q "$PG_C" "SELECT count(*) || ' rows, latency p50 ' ||
    percentile_cont(0.5) WITHIN GROUP (ORDER BY latencia_total_ms) || ' ms, p99 ' ||
    percentile_cont(0.99) WITHIN GROUP (ORDER BY latencia_total_ms) || ' ms'
    FROM transacoes" | sed 's/^/   /'
