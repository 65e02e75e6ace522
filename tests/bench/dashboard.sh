#!/usr/bin/env bash
# tests/bench/dashboard.sh - the dashboard at scale (issue 16.4).
#
#  (a) each endpoint's p50/p99 (BENCH_DASH_REQUESTS requests each, filters
#      varied) with 1,000,000 and then 10,000,000 rows in transacoes, filled
#      in SQL with generate_series (BENCH_DASH_CHUNK rows per INSERT, each
#      one statement, so the aggregates' trigger runs once per chunk);
#  (b) the end-to-end pipeline rate (pipeline.sh's (a): BENCH_COUNT messages,
#      mpirun -np BENCH_RANKS run --until-idle) with no dashboard, with a
#      dashboard open and refreshing at the page's own pace (live panel, state
#      and pipeline every 2 s, topic every 5 s, the five analysis queries every
#      10 s), and with the aggregates' triggers disabled (their own cost),
#      each on a fresh database reading the same topic, the three in turn,
#      BENCH_DASH_ROUNDS times (the machine is shared: compare within a round).
# Environment: BENCH_DASH_ROWS ("1000000 10000000"; "" skips (a)),
# BENCH_DASH_ROUNDS (2), BENCH_DASH_REQUESTS (40),
# BENCH_DASH_CHUNK (1000000), BENCH_COUNT (300000), BENCH_USERS (100000),
# BENCH_RANKS (2), BENCH_BATCH (10000).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${BENCH_DASH_ROWS-1000000 10000000}
ROUNDS=${BENCH_DASH_ROUNDS:-2}
REQS=${BENCH_DASH_REQUESTS:-40}
CHUNK=${BENCH_DASH_CHUNK:-1000000}
COUNT=${BENCH_COUNT:-300000}
USERS=${BENCH_USERS:-100000}
RANKS=${BENCH_RANKS:-2}
BATCH=${BENCH_BATCH:-10000}
source tests/bench/lib.sh
bench_services
echo "machine: $(nproc) cores; $(uptime)"

start_dashboard() { # conninfo [flags] -> sets DASH_URL, DASH_PID
    "$BANKSTREAM" dashboard --pg "$1" --port 0 --brokers "$BS_TEST_BROKERS" "${@:2}" \
        >"$BS_TEST_TMP/dash.out" 2>"$BS_TEST_TMP/dash.err" &
    DASH_PID=$!
    for _ in $(seq 200); do [ -s "$BS_TEST_TMP/dash.out" ] && break; sleep 0.1; done
    DASH_URL=$(head -1 "$BS_TEST_TMP/dash.out")
    [ -n "$DASH_URL" ] || { cat "$BS_TEST_TMP/dash.err"; exit 1; }
}

# (a) ------------------------------------------------------------------
PG=$(new_database bench_dash)
"$BANKSTREAM" init --pg "$PG" --users "$USERS" >/dev/null
have=0
for target in $ROWS; do
    echo "== (a) $target rows in transacoes"
    t0=$(date +%s.%N)
    while [ "$have" -lt "$target" ]; do
        n=$((target - have < CHUNK ? target - have : CHUNK))
        # One INSERT of n rows shaped like the stream's: uniform payers,
        # regions and types, amounts ~ Exponential(1,000), times over a year,
        # 80 % approved and the rest by the stream's reasons.
        psql_q "$PG" "
        WITH u AS (SELECT array_agg(id_usuario ORDER BY id_usuario) a, count(*) n FROM usuarios),
             r AS (SELECT array_agg(id_regiao ORDER BY id_regiao) a FROM regioes),
             g AS (SELECT i, random() x, random() y, random() z, random() w
                     FROM generate_series($have + 1, $have + $n) i)
        INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
            modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
            tempo_saida_resultado, tempo_entrada_kafka, tempo_inicio_processamento,
            latencia_total_ms, tempo_processamento_ms, status, motivo, batch_id, kafka_particao,
            kafka_offset)
        SELECT md5('bench' || i)::uuid, u.a[1 + floor(x * u.n)::int], u.a[1 + floor(y * u.n)::int],
               r.a[1 + floor(z * 27)::int], (ARRAY['PIX', 'TED', 'DOC', 'Boleto'])[(1 + i % 4)::int],
               timestamp '2025-01-01' + (i % 31536000) * interval '1 second',
               round((-1000 * ln(1 - w))::numeric, 2), w < 0.8,
               timestamp '2025-01-01' + (i % 31536000) * interval '1 second' + interval '0.5 s',
               timestamp '2025-01-01' + (i % 31536000) * interval '1 second' + interval '0.1 s',
               timestamp '2025-01-01' + (i % 31536000) * interval '1 second' + interval '0.3 s',
               400, 200, CASE WHEN w < 0.8 THEN 'aprovada' ELSE 'rejeitada' END,
               CASE WHEN w < 0.8 THEN NULL WHEN w < 0.9 THEN 'limite_excedido'
                    WHEN w < 0.995 THEN 'saldo_insuficiente' ELSE 'risco' END,
               i / 10000, (i % 4)::int, i / 4
          FROM g, u, r" >/dev/null
        have=$((have + n))
    done
    for t in transacoes dashboard_resumo dashboard_valor dashboard_t5 dashboard_calor dashboard_temporal; do
        psql_q "$PG" "VACUUM ANALYZE $t" >/dev/null
    done
    t1=$(date +%s.%N)
    echo "   filled in $(echo "$t1 - $t0" | bc) s (trigger included); aggregates:" \
        "$(psql_q "$PG" "SELECT string_agg(relname || ' ' || n_live_tup, ', ' ORDER BY relname)
            FROM pg_stat_user_tables WHERE relname LIKE 'dashboard_%'")"
    assert_eq "$(psql_q "$PG" "SELECT sum(n) FROM dashboard_resumo")" \
        "$(psql_q "$PG" "SELECT count(*) FROM transacoes")" "aggregates count every row"
    start_dashboard "$PG"
    python3 - "$DASH_URL" "$REQS" <<'PY'
import random, statistics, sys, time, urllib.request
url, reqs = sys.argv[1], int(sys.argv[2])
rng = random.Random(16)
mods = ["PIX", "TED", "DOC", "Boleto"]
def filt():
    m = [x for x in mods if rng.random() < 0.6] or ["PIX"]
    h0 = rng.randrange(24); h1 = rng.randrange(h0, 24)
    return f"?mod={','.join(m)}&h0={h0}&h1={h1}"
eps = {"estado": lambda: "", "ao_vivo": lambda: f"?n={rng.choice([10, 50, 100])}",
       "resumo": filt, "valores": filt, "boxplot": filt, "calor": filt, "temporal": lambda: "",
       "dead_letters": lambda: "", "pipeline": lambda: "", "topico": lambda: ""}
for e in eps:  # one warm-up each (plans, caches)
    urllib.request.urlopen(url + "api/" + e).read()
print(f"   {'endpoint':<13} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  ({reqs} requests, filters varied)")
for e, q in eps.items():
    t = []
    for _ in range(reqs):
        s = time.perf_counter()
        r = urllib.request.urlopen(url + "api/" + e + q())
        r.read()
        t.append((time.perf_counter() - s) * 1000)
        assert r.status == 200, e
    t.sort()
    p99 = t[min(len(t) - 1, int(round(0.99 * (len(t) - 1))))]
    print(f"   {e:<13} {statistics.median(t):8.1f} {p99:8.1f} {t[-1]:8.1f}"
          + ("   OVER 200 ms" if p99 > 200 else ""))
PY
    kill "$DASH_PID"; wait "$DASH_PID" 2>/dev/null || true
done

# (b) ------------------------------------------------------------------
echo "== (b) pipeline, $COUNT messages, -np $RANKS: no dashboard / a dashboard refreshing /" \
    "no dashboard and the aggregates' triggers disabled"
TOPIC=$(new_topic bench_dash)
PG_P=$(new_database bench_dash_p)
"$BANKSTREAM" init --pg "$PG_P" --users "$USERS" >/dev/null
"$BANKSTREAM" produce --pg "$PG_P" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --count "$COUNT" --rate 0 --seed 42 --start-time 1750000000000 --historic 0 --quiet
run_rate() { # conninfo -> prints tx/s of an until-idle run (start-up included)
    local t0 t1
    t0=$(date +%s.%N)
    mpirun_bs "$RANKS" run --pg "$1" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
        --batch-size "$BATCH" --until-idle --quiet
    t1=$(date +%s.%N)
    python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])):,.0f}')" \
        "$(psql_q "$1" "SELECT count(*) FROM transacoes")" "$t0" "$t1"
}
fresh() { # name -> a database initialized like the others
    local db
    db=$(new_database "$1")
    "$BANKSTREAM" init --pg "$db" --users "$USERS" >/dev/null
    echo "$db"
}
# the page's cadence (web/src/app.js), until killed
REFRESHER='
import sys, time, urllib.request
url, t = sys.argv[1], 0
while True:
    for e in ["estado", "ao_vivo?n=10", "pipeline"] + (["topico"] if t % 5 == 0 else []) + \
             (["resumo", "valores", "boxplot", "calor", "temporal", "dead_letters"] if t % 10 == 0 else []):
        try:
            urllib.request.urlopen(url + "api/" + e).read()
        except Exception as x:
            print(e, x, flush=True)
    time.sleep(2)
    t += 2
'
for round in $(seq "$ROUNDS"); do
    db=$(fresh "bench_dash_a$round")
    a=$(run_rate "$db")
    db=$(fresh "bench_dash_b$round")
    start_dashboard "$db" --topic "$TOPIC"
    python3 -c "$REFRESHER" "$DASH_URL" >"$BS_TEST_TMP/refresh.log" 2>&1 &
    REFRESH=$!
    b=$(run_rate "$db")
    kill "$REFRESH" "$DASH_PID"
    wait "$REFRESH" "$DASH_PID" 2>/dev/null || true
    db=$(fresh "bench_dash_c$round")
    psql_q "$db" "ALTER TABLE transacoes DISABLE TRIGGER USER" >/dev/null
    c=$(run_rate "$db")
    echo "   round $round: no dashboard $a tx/s; dashboard refreshing $b tx/s; triggers off $c tx/s"
done
echo "   uptime after: $(uptime)"

# (c) ------------------------------------------------------------------
# The aggregates' own cost, without Kafka, MPI or the rest of the machine's
# noise in between: BENCH_DASH_BATCHES INSERTs of 10,000 rows shaped like a
# batch's into transacoes (its six indexes), in turn with the triggers on and
# off, in one session; mean milliseconds per batch each way.
BATCHES=${BENCH_DASH_BATCHES:-20}
echo "== (c) one 10,000-row batch into transacoes: triggers on vs off ($BATCHES batches each, alternating)"
PG_C=$(new_database bench_dash_cost)
"$BANKSTREAM" init --pg "$PG_C" --users "$USERS" >/dev/null
psql "$PG_C" -XAtq -v ON_ERROR_STOP=1 <<SQL 2>&1 | sed 's/^NOTICE:  /   /'
CREATE TABLE lotes AS
WITH u AS (SELECT array_agg(id_usuario ORDER BY id_usuario) a, count(*) n FROM usuarios),
     r AS (SELECT array_agg(id_regiao ORDER BY id_regiao) a FROM regioes)
SELECT i / 10000 AS lote, md5('lote' || i)::uuid AS id_transacao, u.a[1 + floor(random() * u.n)::int] AS pagador,
       u.a[1 + floor(random() * u.n)::int] AS recebedor, r.a[1 + floor(random() * 27)::int] AS regiao,
       (ARRAY['PIX', 'TED', 'DOC', 'Boleto'])[(1 + i % 4)::int] AS modalidade,
       round((-1000 * ln(1 - random()))::numeric, 2) AS valor, random() < 0.8 AS aprovada, i
  FROM generate_series(0, $BATCHES * 2 * 10000 - 1) i, u, r;
DO \$\$
DECLARE t0 timestamptz; ms float8[] := ARRAY[0, 0]; k int; lig int;
BEGIN
    FOR k IN 0..$BATCHES * 2 - 1 LOOP
        lig := k % 2;   -- 0: triggers on, 1: off
        IF lig = 1 THEN ALTER TABLE transacoes DISABLE TRIGGER USER; END IF;
        t0 := clock_timestamp();
        INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
            modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
            tempo_saida_resultado, tempo_entrada_kafka, tempo_inicio_processamento,
            latencia_total_ms, tempo_processamento_ms, status, motivo, batch_id, kafka_particao,
            kafka_offset)
        SELECT id_transacao, pagador, recebedor, regiao, modalidade, now() - interval '1 s', valor,
               aprovada, now(), now() - interval '0.5 s', now() - interval '0.2 s', 500, 200,
               CASE WHEN aprovada THEN 'aprovada' ELSE 'rejeitada' END,
               CASE WHEN aprovada THEN NULL ELSE 'saldo_insuficiente' END, lote, i % 4, i
          FROM lotes WHERE lote = k;
        ms[lig + 1] := ms[lig + 1] + extract(epoch FROM clock_timestamp() - t0) * 1000;
        IF lig = 1 THEN ALTER TABLE transacoes ENABLE TRIGGER USER; END IF;
    END LOOP;
    RAISE NOTICE 'triggers on: % ms per batch; off: % ms per batch; the aggregates add % ms (% %%)',
        round((ms[1] / $BATCHES)::numeric, 1), round((ms[2] / $BATCHES)::numeric, 1),
        round(((ms[1] - ms[2]) / $BATCHES)::numeric, 1), round((100 * (ms[1] - ms[2]) / ms[2])::numeric);
END
\$\$;
SQL
echo "   uptime after: $(uptime)"
