#!/usr/bin/env bash
# tests/bench/dashboard.sh - the dashboard's cost and speed (issue 16.4).
#
# The aggregates are kept off the processor's transactions (pg/schema_dashboard.c):
# a dashboard counts committed batches every second (dashboard_atualizar).
# Each comparison runs its variants in turn, in the same run, and reports
# every round, the best and the median, and their ratio (the machine is
# shared: compare within a run).
#  (a) the sink's transaction for one 10,000-row batch (rows, scores,
#      batch_log, COMMIT; INSERT ... SELECT from a session holding the
#      processor lock, as the sink's COPY would) into a database with the
#      dashboard's schema and into one without any dashboard object,
#      alternating, BENCH_DASH_BATCHES batches each; and the INSERT
#      trigger's own time per batch (pg_stat_user_functions);
#  (b) the processor's catch-up: BENCH_COUNT messages, mpirun -np
#      BENCH_RANKS run --until-idle, into a fresh database with the
#      dashboard's schema and one without (BENCH_DASH_B_VARIANTS "with
#      notrigger none" adds one with the schema but its INSERT trigger
#      disabled), BENCH_DASH_ROUNDS rounds (order rotating): its rate (first
#      cut to last commit), wall rate (start-up included), commit p50/p99 per
#      batch;
#  (c) a steady BENCH_DASH_RATE tx/s for BENCH_DASH_STEADY s: the lag the
#      page sees (/api/estado sampled every 250 ms: agregados.atraso_s, the
#      age of the oldest committed batch not yet counted, 0 when none), and
#      the processor's Kafka-to-commit latency and commit time with a
#      dashboard running vs none (in turn);
#  (d) dashboard_atualizar()'s cost per 10,000 rows (one batch a call) and
#      per 100,000, and a dashboard's catch-up from nothing counted, at each
#      size of BENCH_DASH_ROWS rows in transacoes (written as the sink
#      would: nothing counted); then each endpoint's p50/p99
#      (BENCH_DASH_REQUESTS requests, filters varied);
#  (e) a backlog of BENCH_DASH_BACKLOG messages (a catch-up, --until-idle) with a
#      dashboard running, one sink connection, `[sink] pipeline = off`,
#      then `on`: the lag the page sees (as in c) while the processor
#      catches up (the pipelined sink's second session must not keep the
#      dashboard's catch-up from its turns: pg/schema_dashboard.c, design 5).
# Environment: BENCH_DASH_SECTIONS ("a b c d e"), BENCH_DASH_ROWS ("1000000
# 10000000"), BENCH_DASH_ROUNDS (3), BENCH_DASH_B_VARIANTS ("with none"),
# BENCH_DASH_BATCHES (30), BENCH_DASH_REQUESTS (40), BENCH_DASH_RATE (10000),
# BENCH_DASH_BACKLOG (2000000: long enough for many of the dashboard's turns),
# BENCH_DASH_STEADY (60), BENCH_COUNT (300000), BENCH_USERS (100000),
# BENCH_RANKS (2), BENCH_BATCH (10000).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECTIONS=${BENCH_DASH_SECTIONS:-a b c d e}
ROWS=${BENCH_DASH_ROWS-1000000 10000000}
ROUNDS=${BENCH_DASH_ROUNDS:-3}
B_VARIANTS=${BENCH_DASH_B_VARIANTS:-with none}
NBATCH=${BENCH_DASH_BATCHES:-30}
REQS=${BENCH_DASH_REQUESTS:-40}
RATE=${BENCH_DASH_RATE:-10000}
STEADY=${BENCH_DASH_STEADY:-60}
BACKLOG=${BENCH_DASH_BACKLOG:-2000000}
COUNT=${BENCH_COUNT:-300000}
USERS=${BENCH_USERS:-100000}
RANKS=${BENCH_RANKS:-2}
BATCH=${BENCH_BATCH:-10000}
source tests/bench/lib.sh
bench_services
echo "machine: $(nproc) cores; $(uptime)"
section() { [[ " $SECTIONS " == *" $1 "* ]]; }
LOCK=7089068696235438701 # pglock.h PGLOCK_KEY: the processor's advisory lock

# A database initialized by this bankstream: "with" the dashboard's schema,
# "notrigger": the same with its INSERT trigger disabled, or "none": every
# dashboard object dropped (as before the dashboard existed).
fresh() { # name with|notrigger|none -> conninfo
    local db
    db=$(new_database "$1")
    "$BANKSTREAM" init --pg "$db" --users "$USERS" >/dev/null
    if [ "$2" = notrigger ]; then
        psql_q "$db" "ALTER TABLE transacoes DISABLE TRIGGER dashboard_ins" >/dev/null
    elif [ "$2" = none ]; then
        PGOPTIONS="-c client_min_messages=warning" psql_q "$db" "DROP VIEW dashboard_pares CASCADE;
            DROP TABLE dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor,
                dashboard_temporal, dashboard_estado;
            DROP FUNCTION dashboard_agregar() CASCADE;" >/dev/null
        [ "$(psql_q "$db" "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'transacoes'::regclass
            AND tgname LIKE 'dashboard%'")" = 0 ] || { echo "dashboard triggers left"; exit 1; }
    fi
    echo "$db"
}
start_dashboard() { # conninfo [flags] -> sets DASH_URL, DASH_PID
    "$BANKSTREAM" dashboard --pg "$1" --port 0 --brokers "$BS_TEST_BROKERS" "${@:2}" \
        >"$BS_TEST_TMP/dash.out" 2>"$BS_TEST_TMP/dash.err" &
    DASH_PID=$!
    for _ in $(seq 200); do [ -s "$BS_TEST_TMP/dash.out" ] && break; sleep 0.1; done
    DASH_URL=$(head -1 "$BS_TEST_TMP/dash.out")
    [ -n "$DASH_URL" ] || { cat "$BS_TEST_TMP/dash.err"; exit 1; }
}
stop_dashboard() { kill "$DASH_PID"; wait "$DASH_PID" 2>/dev/null || true; }
# best, median and their ratio of two lists of numbers (file: label value per line)
STATS='
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
lo_better = sys.argv[2] == "low"
unit = sys.argv[3]
labels = list(dict.fromkeys(r[0] for r in rows))
v = {k: [float(r[1]) for r in rows if r[0] == k] for k in labels}
best = {k: (min if lo_better else max)(x) for k, x in v.items()}
med = {k: statistics.median(x) for k, x in v.items()}
for k in labels:
    print(f"   {k:<14} best {best[k]:10,.1f}  median {med[k]:10,.1f} {unit}  ({len(v[k])} rounds)")
b = "sem_dashboard" if "sem_dashboard" in labels else labels[-1]
for a in labels:
    if a != b:
        print(f"   {a} / {b}: best {best[a] / best[b]:.3f}, median {med[a] / med[b]:.3f}")
'

# The lag the page sees: /api/estado's agregados sampled 4 times a second
# (python3 -c "$SAMPLER" URL FILE: time, atraso_s, batches and rows pending).
SAMPLER='
import json, sys, time, urllib.request
url, out = sys.argv[1], open(sys.argv[2], "w")
while True:
    t = time.time()
    try:
        a = json.load(urllib.request.urlopen(url + "api/estado"))["agregados"]
        lag, pend, rows = a["atraso_s"] or 0, a["lotes_pendentes"], a["linhas_pendentes"]
        out.write(f"{t:.3f} {lag:.3f} {pend} {rows}\n")
        out.flush()
    except Exception as x:
        print("estado:", x, flush=True)
    time.sleep(max(0, 0.25 - (time.time() - t)))
'
lag_summary() { # file of SAMPLER's lines
    python3 - "$1" <<'PY'
import sys
s = [l.split() for l in open(sys.argv[1]) if l.strip()]
lag = sorted(float(x[1]) for x in s)
pend = sorted(int(x[2]) for x in s)
q = lambda v, p: v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
print(f"   lag the page saw ({len(s)} samples of /api/estado, 4 a second): age of the oldest batch not yet"
      f" counted p50 {q(lag, .5):.2f} s, p99 {q(lag, .99):.2f} s, max {lag[-1]:.2f} s;"
      f" batches pending p50 {q(pend, .5)}, max {pend[-1]}; caught up in {100 * sum(1 for x in pend if x == 0) / len(pend):.0f}% of samples")
PY
}

# (a) ------------------------------------------------------------------
if section a; then
echo "== (a) the sink's transaction for a 10,000-row batch: dashboard schema vs none ($NBATCH batches each, alternating)"
A=$(fresh bench_dash_sa with)
B=$(fresh bench_dash_sb none)
python3 - "$A" "$B" "$NBATCH" "$LOCK" "$BS_TEST_TMP/sink.txt" <<'PY'
import re, subprocess, sys
conns, n, lock, out = {"dashboard": sys.argv[1], "sem_dashboard": sys.argv[2]}, int(sys.argv[3]), sys.argv[4], sys.argv[5]
SETUP = f"""SET track_functions = 'pl';
SELECT pg_advisory_lock({lock});
CREATE TEMP TABLE lotes AS
WITH u AS (SELECT array_agg(id_usuario ORDER BY id_usuario) a, count(*) n FROM usuarios),
     r AS (SELECT array_agg(id_regiao ORDER BY id_regiao) a FROM regioes)
SELECT i, u.a[1 + floor(random() * u.n)::int] AS pagador, u.a[1 + floor(random() * u.n)::int] AS recebedor,
       r.a[1 + floor(random() * 27)::int] AS regiao, (ARRAY['PIX', 'TED', 'DOC', 'Boleto'])[1 + i % 4] AS modalidade,
       round((-1000 * ln(1 - random()))::numeric, 2) AS valor, random() < 0.8 AS aprovada
  FROM generate_series(1, 10000) i, u, r;
\\timing on
"""
BATCH = """BEGIN;
SELECT coalesce(max(batch_id), 0) + 1 AS b FROM batch_log \\gset
WITH n AS (INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
        modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada, tempo_saida_resultado,
        tempo_entrada_kafka, tempo_inicio_processamento, latencia_total_ms, tempo_processamento_ms,
        status, motivo, batch_id, kafka_particao, kafka_offset)
    SELECT gen_random_uuid(), pagador, recebedor, regiao, modalidade, now() - interval '1 s', valor, aprovada,
           now(), now() - interval '0.5 s', now() - interval '0.2 s', 500, 200,
           CASE WHEN aprovada THEN 'aprovada' ELSE 'rejeitada' END,
           CASE WHEN aprovada THEN NULL ELSE 'saldo_insuficiente' END, :b, i % 4, :b * 10000 + i
      FROM lotes RETURNING id_transacao)
INSERT INTO transacoes_scores SELECT id_transacao, 1.5, 0, 0.5 FROM n;
INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets, n_mensagens, n_aprovadas,
    n_rejeitadas, n_nao_processadas, n_dead_letters, ranks, last_ts_ms)
VALUES (:b, 'bench', '{0}', '{0}', 10000, 10000, 0, 0, 0, 2, '{0}');
COMMIT;
SELECT 'fim';
"""
procs = {}
def talk(p, sql):
    p.stdin.write(sql if sql.endswith("SELECT 'fim';\n") else sql + "SELECT 'fim';\n")
    p.stdin.flush()
    lines = []
    while True:
        line = p.stdout.readline()
        if not line:
            sys.exit("psql ended: " + "".join(lines))
        if line.strip() == "fim":
            return lines
        lines.append(line)
for k, c in conns.items():
    procs[k] = subprocess.Popen(["psql", c, "-XAtq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    talk(procs[k], SETUP)
    talk(procs[k], BATCH)  # warm-up: plans, the trigger function compiled, caches
    if k == "dashboard":
        talk(procs[k], "\\timing off\nSELECT pg_stat_force_next_flush();\nSELECT 1;\n"
                       "SELECT pg_stat_reset_single_function_counters('dashboard_agregar'::regproc);\n\\timing on\n")
with open(out, "w") as f:
    for i in range(n):
        order = list(conns) if i % 2 == 0 else list(reversed(conns))
        for k in order:
            ms = [float(x) for x in re.findall(r"^Time: ([0-9.]+) ms", "".join(talk(procs[k], BATCH)), re.M)]
            f.write(f"{k} {sum(ms):.3f}\n")
p = procs["dashboard"]
t = talk(p, "\\timing off\nSELECT pg_stat_force_next_flush();\nSELECT calls, round((self_time / calls)::numeric, 3) FROM pg_stat_user_functions WHERE funcname = 'dashboard_agregar';\n")
calls, per = t[-1].strip().split("|")
print(f"   the INSERT trigger's own time: {per} ms per batch ({calls} calls)")
for p in procs.values():
    p.stdin.close()
    p.wait()
PY
python3 -c "$STATS" "$BS_TEST_TMP/sink.txt" low "ms per batch"
echo "   (a second's worth of batches at 20,000 tx/s is 2: the difference times 2 is the sink's cost per second)"
echo "   uptime: $(uptime)"
fi

# (b) ------------------------------------------------------------------
TOPIC=$(new_topic bench_dash)
if section b || section c; then
    PG0=$(fresh bench_dash_prod with)
    "$BANKSTREAM" produce --pg "$PG0" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
        --count "$COUNT" --rate 0 --seed 42 --start-time 1750000000000 --historic 0 --quiet
fi
if section b; then
echo "== (b) the processor's catch-up, $COUNT messages, -np $RANKS, batches of $BATCH: $B_VARIANTS ($ROUNDS rounds)"
: >"$BS_TEST_TMP/rate.txt"
: >"$BS_TEST_TMP/wall.txt"
: >"$BS_TEST_TMP/commit.txt"
read -r -a variants <<<"$B_VARIANTS"
for round in $(seq "$ROUNDS"); do
    # each round starts with the next variant: every order position in turn
    order=("${variants[@]:$(((round - 1) % ${#variants[@]}))}" "${variants[@]}")
    for v in "${order[@]:0:${#variants[@]}}"; do
        db=$(fresh "bench_dash_b${v}$round" "$v")
        t0=$(date +%s.%N)
        out=$(mpirun_bs "$RANKS" run --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
            --batch-size "$BATCH" --until-idle 2>/dev/null)
        t1=$(date +%s.%N)
        label=$(case $v in with) echo dashboard ;; notrigger) echo sem_gatilho ;; *) echo sem_dashboard ;; esac)
        rows=$(psql_q "$db" "SELECT count(*) FROM transacoes")
        r=$(sed -n 's/^batches [0-9]*, messages [0-9]*, [0-9.]* s, \([0-9]*\) msg\/s$/\1/p' <<<"$out")
        c=$(sed -n 's/.* commit \([0-9]*\)\/\([0-9]*\),.*/\1 \2/p' <<<"$out")
        echo "$label $r" >>"$BS_TEST_TMP/rate.txt"
        echo "$label $(python3 -c "import sys; print(int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])))" "$rows" "$t0" "$t1")" \
            >>"$BS_TEST_TMP/wall.txt"
        echo "$label ${c%% *}" >>"$BS_TEST_TMP/commit.txt"
        echo "   round $round, $label: $r msg/s, commit p50/p99 ${c/ //} ms, $rows rows"
        psql_q "$BS_TEST_PG" "DROP DATABASE $(db_name "$db") WITH (FORCE)" >/dev/null
    done
done
echo "   rate, first cut to last commit:"
python3 -c "$STATS" "$BS_TEST_TMP/rate.txt" high "msg/s"
echo "   rate, wall clock with start-up:"
python3 -c "$STATS" "$BS_TEST_TMP/wall.txt" high "tx/s"
echo "   commit time per batch, p50 of each run:"
python3 -c "$STATS" "$BS_TEST_TMP/commit.txt" low "ms"
echo "   uptime: $(uptime)"
fi

# (c) ------------------------------------------------------------------
if section c; then
echo "== (c) a steady $RATE tx/s for $STEADY s, -np $RANKS: the lag the page sees; the processor with a dashboard running vs none"
for v in none dashboard; do
    db=$(fresh "bench_dash_c$v" with)
    topic=$(new_topic "bench_dash_c$v")
    "${BS_MPIRUN[@]}" -np "$RANKS" "$BANKSTREAM" run --pg "$db" --brokers "$BS_TEST_BROKERS" \
        --topic "$topic" --batch-size "$BATCH" --batch-ms 100 >"$BS_TEST_TMP/steady-$v.out" 2>&1 &
    RUN=$!
    if [ "$v" = dashboard ]; then
        start_dashboard "$db" --topic "$topic"
        python3 -c "$SAMPLER" "$DASH_URL" "$BS_TEST_TMP/lag.txt" &
        SAMPLE=$!
    fi
    sleep 3
    "$BANKSTREAM" produce --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --count $((RATE * STEADY)) --rate "$RATE" --historic 0 --quiet
    sleep 3
    kill -USR1 "$RUN"
    wait "$RUN" || true
    if [ "$v" = dashboard ]; then
        kill "$SAMPLE"; wait "$SAMPLE" 2>/dev/null || true
        stop_dashboard
        grep "aggregates:" "$BS_TEST_TMP/dash.err" | sed 's/^/   dashboard log: /' || true
    fi
    echo "   $([ "$v" = dashboard ] && echo "dashboard running" || echo "no dashboard     "):" \
        "$(grep -E "^latency to commit" "$BS_TEST_TMP/steady-$v.out");" \
        "commit p50/p99 $(sed -n 's/.* commit \([0-9]*\/[0-9]*\),.*/\1/p' "$BS_TEST_TMP/steady-$v.out") ms;" \
        "$(psql_q "$db" "SELECT count(*) FROM transacoes") rows"
done
lag_summary "$BS_TEST_TMP/lag.txt"
echo "   uptime: $(uptime)"
fi

# (d) ------------------------------------------------------------------
if section d && [ -n "$ROWS" ]; then
PG=$(fresh bench_dash_d with)
have=0
for target in $ROWS; do
    echo "== (d) $target rows in transacoes"
    t0=$(date +%s.%N)
    while [ "$have" -lt "$target" ]; do
        n=$((target - have < 1000000 ? target - have : 1000000))
        # As the sink writes them (the processor lock held: nothing counted):
        # 10,000-row batches with their batch_log rows, uniform payers,
        # regions and types, amounts ~ Exponential(1,000), times over a year,
        # 80 % approved and the rest by the stream's reasons.
        psql "$PG" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT pg_advisory_lock($LOCK);
BEGIN;
WITH u AS (SELECT array_agg(id_usuario ORDER BY id_usuario) a, count(*) n FROM usuarios),
     r AS (SELECT array_agg(id_regiao ORDER BY id_regiao) a FROM regioes),
     g AS (SELECT i, random() x, random() y, random() z, random() w
             FROM generate_series($have, $have + $n - 1) i)
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
       i / 10000 + 1, (i % 4)::int, i / 4
  FROM g, u, r;
INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets, n_mensagens, n_aprovadas,
    n_rejeitadas, n_nao_processadas, n_dead_letters, ranks)
SELECT b, 'bench', '{0}', '{0}', 10000, 8000, 2000, 0, 0, 2
  FROM generate_series($have / 10000 + 1, ($have + $n) / 10000) b;
COMMIT;
SQL
        have=$((have + n))
    done
    psql_q "$PG" "VACUUM ANALYZE transacoes" >/dev/null
    echo "   filled in $(echo "$(date +%s.%N) - $t0" | bc) s; counted: $(psql_q "$PG" "SELECT coalesce(sum(n), 0) FROM dashboard_resumo") rows," \
        "watermark $(psql_q "$PG" "SELECT ate_batch FROM dashboard_estado")"
    # Nothing counted (as when no dashboard ran while the stream wrote).
    reset="TRUNCATE dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor, dashboard_temporal;
           UPDATE dashboard_estado SET ate_batch = 0"
    psql_q "$PG" "$reset" >/dev/null
    # dashboard_atualizar()'s cost: one batch (10,000 rows) a call, then 10 a call
    for chunk in 10000 100000; do
        calls=$((target / chunk < 20 ? target / chunk : 20))
        psql_q "$PG" "$reset" >/dev/null
        python3 - "$PG" "$chunk" "$calls" <<'PY'
import re, statistics, subprocess, sys
pg, chunk, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sql = "\\timing on\n" + "".join(f"SELECT linhas FROM dashboard_atualizar({chunk});\n" for _ in range(calls))
out = subprocess.run(["psql", pg, "-XAtq", "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True, text=True, check=True).stdout
rows = [int(x) for x in re.findall(r"^(\d+)$", out, re.M)]
ms = [float(x) for x in re.findall(r"^Time: ([0-9.]+) ms", out, re.M)]
per = sorted(1e4 * m / r for m, r in zip(ms, rows) if r)
print(f"   dashboard_atualizar({chunk:,}): {len(per)} calls of {statistics.mean([r for r in rows if r]):,.0f} rows;"
      f" per 10,000 rows best {per[0]:.1f} ms, median {statistics.median(per):.1f} ms"
      f" ({1e4 / statistics.median(per) * 1000:,.0f} rows/s)")
PY
    done
    # a dashboard's catch-up from nothing counted
    psql_q "$PG" "$reset" >/dev/null
    t0=$(date +%s.%N)
    start_dashboard "$PG"
    python3 - "$DASH_URL" <<'PY'
import json, sys, time, urllib.request
while json.load(urllib.request.urlopen(sys.argv[1] + "api/estado"))["agregados"]["lotes_pendentes"] > 0:
    time.sleep(0.2)
PY
    t1=$(date +%s.%N)
    echo "   a dashboard started with nothing counted caught up in $(echo "$t1 - $t0" | bc) s" \
        "($(python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):,.0f}')" "$target" "$(echo "$t1 - $t0" | bc)") rows/s);" \
        "$(grep "aggregates:" "$BS_TEST_TMP/dash.err" | tail -1 | sed 's/^bankstream dashboard: //')"
    assert_eq "$(psql_q "$PG" "SELECT sum(n) FROM dashboard_resumo")" \
        "$(psql_q "$PG" "SELECT count(*) FROM transacoes")" "aggregates count every row"
    for t in dashboard_resumo dashboard_valor dashboard_t5 dashboard_calor dashboard_temporal; do
        psql_q "$PG" "VACUUM ANALYZE $t" >/dev/null
    done
    echo "   aggregates: $(psql_q "$PG" "SELECT string_agg(relname || ' ' || n_live_tup, ', ' ORDER BY relname)
            FROM pg_stat_user_tables WHERE relname LIKE 'dashboard_%'")"
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
    stop_dashboard
    echo "   uptime: $(uptime)"
done
fi

# (e) ------------------------------------------------------------------
if section e; then
echo "== (e) a backlog of $BACKLOG messages, -np $RANKS, one sink connection, [sink] pipeline off and on," \
    "a dashboard running: the lag the page sees while the processor catches up"
for p in off on; do
    db=$(fresh "bench_dash_e$p" with)
    topic=$(new_topic "bench_dash_e$p")
    "$BANKSTREAM" produce --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$topic" --count "$BACKLOG" \
        --rate 0 --seed 5 --historic 0 --quiet
    printf '[sink]\nconnections = 1\npipeline = %s\n' "$p" >"$BS_TEST_TMP/backlog-$p.ini"
    start_dashboard "$db" --topic "$topic"
    python3 -c "$SAMPLER" "$DASH_URL" "$BS_TEST_TMP/lag-$p.txt" &
    SAMPLE=$!
    t0=$(date +%s.%N)
    "${BS_MPIRUN[@]}" -np "$RANKS" "$BANKSTREAM" run "$BS_TEST_TMP/backlog-$p.ini" --pg "$db" \
        --brokers "$BS_TEST_BROKERS" --topic "$topic" --batch-size "$BATCH" --until-idle \
        >"$BS_TEST_TMP/backlog-$p.out" 2>&1
    t1=$(date +%s.%N)
    kill "$SAMPLE"
    wait "$SAMPLE" 2>/dev/null || true
    stop_dashboard
    echo "   pipeline $p: the backlog in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s;" \
        "$(grep -o 'pipeline: [0-9]* of [0-9]* batches' "$BS_TEST_TMP/backlog-$p.out" || echo "no batch written ahead")"
    lag_summary "$BS_TEST_TMP/lag-$p.txt"
done
echo "   uptime: $(uptime)"
fi
