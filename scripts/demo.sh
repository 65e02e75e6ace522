#!/usr/bin/env bash
# scripts/demo.sh - the whole pipeline on the embedded defaults (make demo).
#
#   embedded PostgreSQL (./var/pg) -> init 10,000 users -> embedded broker on
#   127.0.0.1:9092 (and its in-memory Schema Registry on 127.0.0.1:8081) ->
#   produce 100,000 transactions -> mpirun -np 2 bankstream run --until-idle ->
#   summary from the database -> `bankstream dashboard` on 127.0.0.1:8501
#   (DEMO_DASHBOARD_PORT), left running like the database. DEMO_FORMAT=avro
#   produces the original's Avro records through the registry instead of JSON
#   (the same transactions).
#
# The broker keeps messages in memory only, so every demo starts from a clean
# slate: a new broker, `init --force` and no old snapshots (var/snapshots). The database stays up afterwards
# (inspect it with the psql line printed at the end; stop it with
# `./bankstream db stop`).
set -euo pipefail
cd "$(dirname "$0")/.."
BS=./bankstream
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
COUNT=${DEMO_COUNT:-100000}
FORMAT=${DEMO_FORMAT:-json}
RANKS=${DEMO_RANKS:-2}
mkdir -p var

echo "== database"
CONNINFO=$($BS db start | tail -1)
echo "$CONNINFO"

echo "== broker"
$BS broker --port 9092 --registry-port 8081 >var/broker.out 2>var/broker.err &
BROKER_PID=$!
trap 'kill $BROKER_PID 2>/dev/null; wait $BROKER_PID 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s var/broker.out ] && break; sleep 0.1; done
[ -s var/broker.out ] || { cat var/broker.err >&2; exit 1; }
cat var/broker.out

echo "== init"
$BS init --pg "$CONNINFO" --force
rm -rf var/snapshots # they belonged to the database init --force just replaced

echo "== produce $COUNT transactions"
$BS produce --pg "$CONNINFO" --count "$COUNT" --rate 0 --historic 1000 --format "$FORMAT"

echo "== run (mpirun -np $RANKS)"
mpirun --oversubscribe --bind-to none -np "$RANKS" $BS run jobs/local.ini --pg "$CONNINFO" \
    --until-idle

echo "== summary (from PostgreSQL)"
psql "$CONNINFO" -X -q <<'SQL'
SELECT status, coalesce(motivo, '-') AS motivo, count(*) AS transacoes
  FROM transacoes GROUP BY 1, 2 ORDER BY 1, 3 DESC;
SELECT (SELECT count(*) FROM transacoes_duplicadas) AS duplicadas,
       (SELECT count(*) FROM dead_letters) AS dead_letters,
       (SELECT count(*) FROM batch_log) AS batches;
SELECT round(count(*) / greatest(extract(epoch FROM max(tempo_saida_resultado)
                                 - min(tempo_inicio_processamento)), 0.001)) AS tx_por_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latencia_total_ms) AS latencia_p50_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latencia_total_ms) AS latencia_p99_ms
  FROM transacoes;
SELECT * FROM vw_performance_stats;
SQL
echo "inspect: psql '$CONNINFO'"

echo "== dashboard"
# A dashboard of an earlier demo is stopped first (its pid file); this one
# stays up after the demo, as the database does. The demo's broker stops with
# the demo, so the topic panel is off.
DASH_PORT=${DEMO_DASHBOARD_PORT:-8501}
if [ -f var/dashboard.pid ] && grep -q dashboard "/proc/$(cat var/dashboard.pid)/cmdline" 2>/dev/null; then
    kill "$(cat var/dashboard.pid)" 2>/dev/null || true
    sleep 0.5
fi
rm -f var/dashboard.out
setsid $BS dashboard --pg "$CONNINFO" --port "$DASH_PORT" --brokers none \
    >var/dashboard.out 2>var/dashboard.log </dev/null &
echo $! >var/dashboard.pid
for _ in $(seq 50); do [ -s var/dashboard.out ] && break; sleep 0.1; done
if [ -s var/dashboard.out ]; then
    echo "dashboard: $(head -1 var/dashboard.out)  (stop: kill \$(cat var/dashboard.pid))"
else
    echo "dashboard did not start: $(tail -1 var/dashboard.log)" >&2
fi
