#!/usr/bin/env bash
# tests/bench/dashboard.sh - the dashboard at scale (issue 16.4).
#
#  (a) each endpoint's p50/p99 (BENCH_DASH_REQUESTS requests each, filters
#      varied) with 1,000,000 and then 10,000,000 rows in transacoes, filled
#      in SQL with generate_series (BENCH_DASH_CHUNK rows per INSERT, each
#      one statement, so the aggregates' trigger runs once per chunk);
#  (b) the end-to-end pipeline rate (pipeline.sh's (a): BENCH_COUNT messages,
#      mpirun -np BENCH_RANKS run --until-idle) with no dashboard, then with a
#      dashboard open and refreshing at the page's own pace (live panel, state
#      and pipeline every 2 s, topic every 5 s, the five analysis queries every
#      10 s), each on a fresh database reading the same topic.
# Environment: BENCH_DASH_ROWS ("1000000 10000000"), BENCH_DASH_REQUESTS (40),
# BENCH_DASH_CHUNK (1000000), BENCH_COUNT (300000), BENCH_USERS (100000),
# BENCH_RANKS (2), BENCH_BATCH (10000).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${BENCH_DASH_ROWS:-1000000 10000000}
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
echo "== (b) pipeline, $COUNT messages, -np $RANKS: without and with a dashboard refreshing"
TOPIC=$(new_topic bench_dash)
PG_A=$(new_database bench_dash_a)
PG_B=$(new_database bench_dash_b)
"$BANKSTREAM" init --pg "$PG_A" --users "$USERS" >/dev/null
"$BANKSTREAM" init --pg "$PG_B" --users "$USERS" >/dev/null
"$BANKSTREAM" produce --pg "$PG_A" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
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
echo "   without a dashboard: $(run_rate "$PG_A") tx/s"
start_dashboard "$PG_B" --topic "$TOPIC"
python3 - "$DASH_URL" >"$BS_TEST_TMP/refresh.log" 2>&1 <<'PY' &
import sys, time, urllib.request
url = sys.argv[1]
t = 0
while True:  # the page's cadence (web/src/app.js), until killed
    for e in ["estado", "ao_vivo?n=10", "pipeline"] + (["topico"] if t % 5 == 0 else []) + \
             (["resumo", "valores", "boxplot", "calor", "temporal", "dead_letters"] if t % 10 == 0 else []):
        try:
            urllib.request.urlopen(url + "api/" + e).read()
        except Exception as x:
            print(e, x, flush=True)
    time.sleep(2)
    t += 2
PY
REFRESH=$!
echo "   with a dashboard refreshing: $(run_rate "$PG_B") tx/s"
kill "$REFRESH" "$DASH_PID"; wait "$REFRESH" "$DASH_PID" 2>/dev/null || true
echo "   uptime after: $(uptime)"
