#!/usr/bin/env bash
# 73-dashboard-aggregates.sh - the dashboard's aggregates stay exact while
# the processor's transactions do none of the work (pg/schema_dashboard.c).
#
# The invariant, checked by dashboard_verificar() in one REPEATABLE READ
# snapshot after every step and while writers run: the aggregates count
# exactly the rows with batch_id NULL or <= the watermark
# (dashboard_estado.ate_batch). Steps: a real run leaves its batches
# uncounted; dashboard_atualizar() counts them in chunks of whole batches;
# rows of other writers (historic, by the app role; old and future batch ids
# by hand) are counted at once or left above the watermark; a session that
# is not the processor cannot slip rows of a batch past the watermark (it
# holds the watermark until it commits, and the catch-up skips its turn);
# a purge, an UPDATE and a TRUNCATE subtract what was counted, whether or
# not the catch-up had reached those rows; a rebuild equals the
# incremental counts; init keeps the watermark; a stream, a catch-up loop
# and historic writers at once; the pipelined sink's ahead session holding
# a batch does not stop the catch-up; a prepared transaction holding transacoes
# stops the watermark, and the slices of a two-phase batch do not block each
# other (a cluster of its own with max_prepared_transactions).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

PIDS=()
APP="t_dagg_app_$$"
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ -n "${PG2DIR:-}" ] && "$BANKSTREAM" db stop --dir "$PG2DIR" >/dev/null 2>&1
    drop_databases
    psql_q "$BS_TEST_PG" "DROP ROLE IF EXISTS $APP" >/dev/null 2>&1 || true
    return 0
}
trap cleanup EXIT

PG=$(new_database dagg --users 500)
TOPIC=$(new_topic dagg)
q() { psql_q "$PG" "$1"; }
verified() { # the number of aggregate rows that differ from a recount
    psql "$PG" -XAtq -v ON_ERROR_STOP=1 -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
        -c "SELECT dashboard_verificar()" -c "COMMIT"
}
counted() { q "SELECT coalesce(sum(n), 0) FROM dashboard_resumo"; }
watermark() { q "SELECT ate_batch FROM dashboard_estado"; }
# rows shaped like the stream's, N of them, batch id B (SQL NULL for none)
rows_sql() { # n batch [status]
    echo "INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
            modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
            tempo_saida_resultado, latencia_total_ms, status, motivo, batch_id)
          SELECT gen_random_uuid(), u.id_usuario, u.id_usuario, u.id_regiao,
                 (ARRAY['PIX','TED','DOC','Boleto'])[1 + i % 4], now() - i * interval '1 min',
                 round((random() * 3000)::numeric, 2), i % 3 > 0, now(), 100 + i,
                 ${3:-CASE WHEN i % 3 > 0 THEN 'aprovada' ELSE 'rejeitada' END},
                 CASE WHEN i % 3 > 0 THEN NULL ELSE 'saldo_insuficiente' END, $2
            FROM generate_series(1, $1) i
            JOIN LATERAL (SELECT id_usuario, id_regiao FROM usuarios OFFSET i % 500 LIMIT 1) u ON true"
}
batch_log_sql() { # batch rows
    echo "INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets, n_mensagens,
            n_aprovadas, n_rejeitadas, n_nao_processadas, n_dead_letters, ranks)
          VALUES ($1, 'x', '{0}', '{0}', $2, $2, 0, 0, 0, 1)"
}

# --- 1. a real run: its batches are not counted by its transactions
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count 12000 \
    --rate 0 --seed 5 --historic 2000 --quiet
mpirun_bs 2 run --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --batch-size 2000 \
    --batch-ms 0 --until-idle --quiet
nb=$(q "SELECT max(batch_id) FROM batch_log")
[ "$nb" -ge 6 ] || fail "expected at least 6 batches, got $nb"
assert_eq "$(counted)" 0 "the stream's transactions counted nothing"
assert_eq "$(watermark)" 0 "watermark before any catch-up"
assert_eq "$(q "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = 'dashboard_resumo'")" 0 \
    "the stream's transactions did not write dashboard_resumo"
assert_eq "$(verified)" 0 "exact at watermark 0"

# --- 2. the catch-up, in chunks of whole batches (limit 1 row: one batch a call)
assert_eq "$(q "SELECT ate_batch, linhas > 0, em_dia FROM dashboard_atualizar(1)")" "1|t|f" "one batch a call"
assert_eq "$(verified)" 0 "exact after one chunk"
assert_eq "$(q "SELECT ate_batch, em_dia FROM dashboard_atualizar()")" "$nb|t" "the rest in one call"
assert_eq "$(counted)" "$(q "SELECT count(*) FROM transacoes")" "every row counted"
assert_eq "$(q "SELECT ate_batch, linhas, em_dia FROM dashboard_atualizar()")" "$nb|0|t" "nothing left"
assert_eq "$(verified)" 0 "exact after the catch-up"

# --- 3. other writers: historic rows by the INSERT-only app role count at once
BANKSTREAM_APP_PASSWORD=x "$BANKSTREAM" init --pg "$PG" --users 500 --app-role "$APP" >/dev/null
assert_eq "$(watermark)" "$nb" "init again keeps the watermark"
before=$(counted)
PG_APP="${PG/user=postgres/user=$APP}"
psql "$PG_APP" -XAtq -v ON_ERROR_STOP=1 -c "$(rows_sql 300 NULL "'historico'")"
assert_eq "$(counted)" "$((before + 300))" "historic rows of the app role counted in its transaction"
# an old batch id (<= watermark): counted at once; a future one: left above it
q "$(rows_sql 7 2)" >/dev/null
q "$(rows_sql 5 1000000)" >/dev/null
assert_eq "$(counted)" "$((before + 307))" "old batch id counted, future one not"
assert_eq "$(verified)" 0 "exact after other writers"
# the processor lock's holder with a NULL row among its batch: that row counts
psql "$PG" -XAtq -v ON_ERROR_STOP=1 \
    -c "SELECT pg_advisory_lock(7089068696235438701)" -c "BEGIN" \
    -c "$(rows_sql 50 "CASE WHEN i = 1 THEN NULL ELSE $((nb + 1)) END")" \
    -c "$(batch_log_sql $((nb + 1)) 49)" -c "COMMIT" >/dev/null
assert_eq "$(counted)" "$((before + 308))" "the NULL row of the lock holder's statement counted"
assert_eq "$(verified)" 0 "exact with a mixed statement"
q "SELECT * FROM dashboard_atualizar()" >/dev/null
nb=$((nb + 1))
assert_eq "$(watermark)" "$nb" "caught up"

# --- 4. a session that is not the processor inserts rows of the next batch
# and stays open while that batch commits elsewhere: the catch-up must not
# pass the batch without its rows (the session holds the watermark), even
# when it names, as the pipelined sink's ahead session does, a backend (its
# own) that does not hold the processor lock.
next=$((nb + 1))
coproc W1 { psql "$PG" -XAtq -v ON_ERROR_STOP=1 2>&1; }
PIDS+=("$W1_PID")
echo "BEGIN; SELECT set_config('bankstream.sessao_processador', pg_backend_pid()::text, true) \gset
      $(rows_sql 40 $next); SELECT 'inserted';" >&"${W1[1]}"
read -r -t 30 line <&"${W1[0]}" || fail "the open writer did not answer"
assert_eq "$line" inserted "the open writer inserted"
q "$(batch_log_sql $next 40)" >/dev/null
assert_eq "$(q "SELECT ate_batch, linhas, em_dia FROM dashboard_atualizar()")" "$nb|0|f" \
    "the catch-up skips its turn while a writer holds the watermark"
echo "COMMIT; SELECT 'done';" >&"${W1[1]}"
read -r -t 30 line <&"${W1[0]}" || fail "the open writer did not commit"
assert_eq "$line" "done" "the open writer committed"
echo '\q' >&"${W1[1]}"
assert_eq "$(q "SELECT ate_batch, linhas FROM dashboard_atualizar()")" "$next|40" "then its rows are counted"
nb=$next
assert_eq "$(verified)" 0 "exact after the race"

# --- 5. deletes, updates, truncate; counted and not yet counted rows
# three batches the catch-up has not reached
for b in $((nb + 1)) $((nb + 2)) $((nb + 3)); do
    q "$(rows_sql 100 $b)" >/dev/null
    q "$(batch_log_sql $b 100)" >/dev/null
done
q "SELECT * FROM dashboard_atualizar(1)" >/dev/null # one of them
assert_eq "$(watermark)" "$((nb + 1))" "one of three counted"
# retention: age rows below and above the watermark (an UPDATE), then purge
q "UPDATE transacoes SET created_at = created_at - interval '40 days'
    WHERE batch_id IN (1, 2, $((nb + 1)), $((nb + 3))) OR (batch_id IS NULL AND status = 'historico' AND latencia_total_ms < 150)" >/dev/null
assert_eq "$(verified)" 0 "exact after an UPDATE of counted and uncounted rows"
purged=$(q "SELECT limpar_transacoes_antigas(30)")
[ "$purged" -gt 0 ] || fail "the purge deleted nothing"
assert_eq "$(verified)" 0 "exact after the purge"
q "UPDATE transacoes SET transacao_aprovada = NOT transacao_aprovada, motivo = 'risco'
    WHERE id_transacao IN (SELECT id_transacao FROM transacoes ORDER BY id_transacao LIMIT 500)" >/dev/null
assert_eq "$(verified)" 0 "exact after an UPDATE of the counted dimensions"
q "SELECT * FROM dashboard_atualizar()" >/dev/null
assert_eq "$(watermark)" "$((nb + 3))" "the catch-up reaches the newest batch"
assert_eq "$(verified)" 0 "exact after catching up over purged batches"
assert_eq "$(counted)" "$(q "SELECT count(*) FROM transacoes WHERE batch_id IS NULL OR batch_id <= $((nb + 3))")" \
    "every row up to the watermark counted"
nb=$((nb + 3))
# no zero-count rows left behind by the subtractions
assert_eq "$(q "SELECT (SELECT count(*) FROM dashboard_resumo WHERE n = 0) + (SELECT count(*) FROM dashboard_valor WHERE n = 0)
    + (SELECT count(*) FROM dashboard_t5 WHERE n = 0) + (SELECT count(*) FROM dashboard_calor WHERE n = 0)
    + (SELECT count(*) FROM dashboard_temporal WHERE n = 0)")" 0 "no rows at 0"

# --- 6. a rebuild equals the incremental counts; a broken count is seen
sig() { q "SELECT md5(string_agg(x::text, ';' ORDER BY x::text)) FROM (
    SELECT r::text x FROM dashboard_resumo r UNION ALL SELECT v::text FROM dashboard_valor v
    UNION ALL SELECT t::text FROM dashboard_t5 t UNION ALL SELECT c::text FROM dashboard_calor c
    UNION ALL SELECT p::text FROM dashboard_temporal p) y"; }
s1=$(sig)
q "SELECT dashboard_reconstruir()" >/dev/null
assert_eq "$(sig)" "$s1" "dashboard_reconstruir() gives the same counts"
assert_eq "$(watermark)" "$nb" "the rebuild sets the watermark to the newest batch"
q "UPDATE dashboard_valor SET n = n + 1 WHERE balde = (SELECT min(balde) FROM dashboard_valor)" >/dev/null
[ "$(verified)" -gt 0 ] || fail "dashboard_verificar() did not see a broken count"
q "SELECT dashboard_reconstruir()" >/dev/null
assert_eq "$(verified)" 0 "repaired by a rebuild"
assert_fails "REPEATABLE READ" psql_q "$PG" "SELECT dashboard_verificar()"

# --- 7. a purge in progress: the catch-up skips its turn, never waits
q "$(rows_sql 10 $((nb + 1)))" >/dev/null
q "$(batch_log_sql $((nb + 1)) 10)" >/dev/null
coproc W2 { psql "$PG" -XAtq -v ON_ERROR_STOP=1 2>&1; }
PIDS+=("$W2_PID")
echo "BEGIN; DELETE FROM transacoes WHERE status = 'historico'; SELECT 'deleted';" >&"${W2[1]}"
read -r -t 30 line <&"${W2[0]}" || fail "the purging session did not answer"
assert_eq "$line" deleted "the purging session deleted"
t0=$(date +%s%N)
assert_eq "$(q "SELECT linhas, em_dia FROM dashboard_atualizar()")" "0|f" "skipped while a delete holds the watermark"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000 ] || fail "the catch-up waited for the delete"
echo "COMMIT; SELECT 'done';" >&"${W2[1]}"
read -r -t 30 line <&"${W2[0]}" || fail "the purging session did not commit"
assert_eq "$line" "done" "the purging session committed"
echo '\q' >&"${W2[1]}"
q "SELECT * FROM dashboard_atualizar()" >/dev/null
nb=$((nb + 1))
assert_eq "$(verified)" 0 "exact after a concurrent delete"

# --- 8. TRUNCATE: nothing counted, the watermark at the newest batch
q "TRUNCATE transacoes" >/dev/null
assert_eq "$(counted)" 0 "TRUNCATE empties the aggregates"
assert_eq "$(watermark)" "$nb" "TRUNCATE sets the watermark to the newest batch"
assert_eq "$(verified)" 0 "exact after TRUNCATE"

# --- 9. everything at once: a stream, a catch-up loop every 200 ms, a writer
# of historic rows and deletes; checked in one snapshot again and again
TOPIC2=$(new_topic dagg2)
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC2" --count 30000 \
    --rate 0 --seed 6 --historic 0 --quiet
"${BS_MPIRUN[@]}" -np 2 "$BANKSTREAM" run --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC2" \
    --batch-size 1000 --batch-ms 0 --until-idle --quiet >"$BS_TEST_TMP/dagg-run.log" 2>&1 &
STREAM=$!
PIDS+=("$STREAM")
(while kill -0 "$STREAM" 2>/dev/null; do q "SELECT * FROM dashboard_atualizar(3000)" >/dev/null; sleep 0.2; done) &
PIDS+=($!)
(while kill -0 "$STREAM" 2>/dev/null; do
    q "$(rows_sql 20 NULL "'historico'")" >/dev/null
    q "DELETE FROM transacoes WHERE id_transacao IN (SELECT id_transacao FROM transacoes
        WHERE batch_id IS NULL ORDER BY random() LIMIT 5)" >/dev/null
    sleep 0.3
done) &
PIDS+=($!)
checks=0
while kill -0 "$STREAM" 2>/dev/null; do
    assert_eq "$(verified)" 0 "exact while the stream, the catch-up and other writers run"
    checks=$((checks + 1))
    sleep 0.5
done
wait "$STREAM" || { cat "$BS_TEST_TMP/dagg-run.log"; fail "the stream failed"; }
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
echo "checked $checks times while running"
[ "$checks" -ge 2 ] || fail "the stream ended before two checks"
q "SELECT * FROM dashboard_atualizar()" >/dev/null
assert_eq "$(counted)" "$(q "SELECT count(*) FROM transacoes")" "every row counted at the end"
assert_eq "$(verified)" 0 "exact at the end"

# --- 10. the pipelined sink: while its ahead session holds the next batch's
# rows in an open transaction, the catch-up still counts every committed
# batch (that session names the processor's backend, so its rows take the
# processor's path and it holds nothing of the dashboard's: design 5), and
# its rows are not counted before they commit
TOPIC3=$(new_topic dagg3)
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC3" --count 100000 \
    --rate 0 --seed 7 --historic 0 --quiet
BANKSTREAM_TEST_SINK_PAUSE=ahead:1 "${BS_MPIRUN[@]}" -np 2 "$BANKSTREAM" run --pg "$PG" \
    --brokers "$BS_TEST_BROKERS" --topic "$TOPIC3" --batch-size 1000 --batch-ms 0 --until-idle \
    >"$BS_TEST_TMP/dagg-ahead.log" 2>&1 &
STREAM=$!
PIDS+=("$STREAM")
wait_sink_paused "$BS_TEST_TMP/dagg-ahead.log" "$STREAM" ||
    { tail -5 "$BS_TEST_TMP/dagg-ahead.log"; fail "no batch was written ahead"; }
held=$(sink_paused_batch "$BS_TEST_TMP/dagg-ahead.log")
[ -n "$held" ] || fail "the pause line names no batch"
for ((i = 0; i < 600; i++)); do
    [ "$(q "SELECT max(batch_id) FROM batch_log")" -ge $((held - 1)) ] && break
    sleep 0.1
done
assert_eq "$(q "SELECT max(batch_id) FROM batch_log")" $((held - 1)) "committed before the held batch"
assert_eq "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE a.application_name LIKE '% [ahead]' AND a.state = 'idle in transaction'
                   AND l.relation = 'dashboard_estado'::regclass AND l.mode = 'RowShareLock'")" 0 \
    "the ahead session, holding batch $held, holds no FOR SHARE lock (RowShareLock) on the watermark"
assert_eq "$(q "SELECT ate_batch, em_dia FROM dashboard_atualizar()")" "$((held - 1))|t" \
    "the catch-up counts every committed batch while batch $held is held ahead"
assert_eq "$(verified)" 0 "exact while a batch is held ahead"
for p in $(pgrep -P "$STREAM"); do kill -9 "$p"; done
kill -9 "$STREAM" 2>/dev/null || true
wait "$STREAM" 2>/dev/null || true
PIDS=()
for ((i = 0; i < 100; i++)); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'bankstream run %'")" = 0 ] && break
    sleep 0.1
done
q "SELECT * FROM dashboard_atualizar()" >/dev/null
assert_eq "$(counted)" "$(q "SELECT count(*) FROM transacoes")" "every committed row counted"
assert_eq "$(verified)" 0 "exact after the processor was killed with a batch held ahead"

# --- 11. a prepared transaction holding transacoes (a two-phase sink's slice
# whose batch_log row may already be visible) stops the watermark
PG2DIR="$BS_TEST_TMP/pg2pc"
PORT2=$(free_port)
"$BANKSTREAM" db start --dir "$PG2DIR" --port "$PORT2" >/dev/null
P2="host=127.0.0.1 port=$PORT2 dbname=bank user=postgres"
psql_q "$P2" "ALTER SYSTEM SET max_prepared_transactions = 4" >/dev/null
"$BANKSTREAM" db stop --dir "$PG2DIR" >/dev/null
"$BANKSTREAM" db start --dir "$PG2DIR" --port "$PORT2" >/dev/null
"$BANKSTREAM" init --pg "$P2" --users 100 >/dev/null
PG=$P2
psql "$P2" -XAtq -v ON_ERROR_STOP=1 -c "BEGIN" -c "$(rows_sql 30 1)" \
    -c "PREPARE TRANSACTION 'dagg-slice'" >/dev/null
q "$(batch_log_sql 1 30)" >/dev/null
assert_eq "$(q "SELECT ate_batch, linhas, em_dia FROM dashboard_atualizar()")" "0|0|f" \
    "no catch-up past a prepared transaction on transacoes"
q "COMMIT PREPARED 'dagg-slice'" >/dev/null
assert_eq "$(q "SELECT ate_batch, linhas, em_dia FROM dashboard_atualizar()")" "1|30|t" \
    "counted once it committed"
assert_eq "$(verified)" 0 "exact on the second cluster"
# A two-phase sink's batch: a slice prepared by a session without the
# processor lock (the triggers' FOR SHARE path) does not block the other
# slices, with or without the lock, nor the batch's deciding commit.
psql "$P2" -XAtq -v ON_ERROR_STOP=1 -c "BEGIN" -c "$(rows_sql 20 2)" \
    -c "PREPARE TRANSACTION 'dagg-s1'" >/dev/null
psql "$P2" -XAtq -v ON_ERROR_STOP=1 -c "SET lock_timeout = '5s'" -c "BEGIN" -c "$(rows_sql 20 2)" \
    -c "PREPARE TRANSACTION 'dagg-s2'" >/dev/null || fail "a second slice waited for the first"
psql "$P2" -XAtq -v ON_ERROR_STOP=1 -c "SET lock_timeout = '5s'" \
    -c "SELECT pg_advisory_lock(7089068696235438701)" -c "BEGIN" -c "$(rows_sql 20 2)" \
    -c "$(batch_log_sql 2 60)" -c "COMMIT" >/dev/null || fail "the deciding slice waited for the others"
assert_eq "$(q "SELECT ate_batch, linhas FROM dashboard_atualizar()")" "1|0" "batch 2 waits for its slices"
q "COMMIT PREPARED 'dagg-s1'" >/dev/null
assert_eq "$(q "SELECT ate_batch, linhas FROM dashboard_atualizar()")" "1|0" "and for the last one"
q "COMMIT PREPARED 'dagg-s2'" >/dev/null
assert_eq "$(q "SELECT ate_batch, linhas, em_dia FROM dashboard_atualizar()")" "2|60|t" \
    "then its three slices are counted"
assert_eq "$(verified)" 0 "exact after a two-phase batch"
