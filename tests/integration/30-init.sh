#!/usr/bin/env bash
# 30-init.sh - `bankstream init`: the schema as the catalog sees it (the
# original's view, column and parameter names and types, bankstream's
# columns with defaults), the reference data as psql sees it, idempotence
# (checksums before/after), --force, refusals that change nothing, and a
# failing init that leaves no trace (one transaction). The function and
# views are exercised on rows: retention deletes by created_at and keeps
# what the rows did; an INSERT of the original's columns only works; the
# original's seed script (CREATE OR REPLACE of the views and the function)
# succeeds on a bankstream database.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

db=$(new_database init)
q() { psql_q "$db" "$1"; }
# Everything init loads or records, created_at included: "changes nothing" means this is equal.
checksum() {
    q "SELECT md5(coalesce((SELECT string_agg(u::text, ';' ORDER BY id_usuario) FROM usuarios u), '')
             || coalesce((SELECT string_agg(r::text, ';' ORDER BY id_regiao) FROM regioes r), '')
             || coalesce((SELECT string_agg(m::text, ';' ORDER BY chave) FROM bankstream_meta m), ''))"
}
# The generated content only (no timestamps): equal for equal --users/--seed.
content() {
    q "SELECT md5(string_agg(concat_ws(',', id_usuario, id_regiao, saldo, limite_pix, limite_ted,
                                       limite_doc, limite_boleto), ';' ORDER BY id_usuario))
         FROM usuarios"
}

# --- first init
out=$("$BANKSTREAM" init --pg "$db" --users 5000 --seed 7)
assert_contains "$out" "5000 users" "init summary"
assert_eq "$(printf '%s\n' "$out" | wc -l)" 1 "init prints one line"

# --- the schema, from the catalog
tables="regioes usuarios transacoes transacoes_scores transacoes_duplicadas batch_log dead_letters bankstream_meta saldos_expurgados transacoes_ids_expurgados"
kinds() { # names... -> "name:relkind ..." as the catalog says
    local sql="SELECT string_agg(n || ':' || coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass(n)), '-'), ' ' ORDER BY i) FROM unnest(string_to_array('$*', ' ')) WITH ORDINALITY AS t(n, i)"
    q "$sql"
}
assert_eq "$(kinds $tables vw_performance_stats vw_performance_temporal)" \
    "$(for t in $tables; do printf '%s:r ' "$t"; done)vw_performance_stats:v vw_performance_temporal:v" \
    "tables and views"
assert_eq "$(q "SELECT pg_get_function_result(to_regprocedure('limpar_transacoes_antigas(integer)'))")" \
    "integer" "function limpar_transacoes_antigas(integer) returns integer"
assert_eq "$(q "SELECT pg_get_function_arguments(to_regprocedure('limpar_transacoes_antigas(integer)'))")" \
    "dias_retencao integer DEFAULT 30" "the original's parameter name and default"
cols() { # table -> "name type, ..." in column order
    q "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '$1'"
}
# The views' names, column names and types: the original's seed script runs
# CREATE OR REPLACE VIEW on them, which fails if any of them differs.
assert_eq "$(cols vw_performance_stats)" "modalidade_pagamento character varying, total_transacoes bigint, latencia_media_ms numeric, latencia_minima_ms bigint, latencia_maxima_ms bigint, latencia_p95_ms double precision, tempo_processamento_medio_ms numeric" "vw_performance_stats columns"
assert_eq "$(cols vw_performance_temporal)" "hora timestamp without time zone, transacoes_por_hora bigint, latencia_media_ms numeric" "vw_performance_temporal columns"
# Every column bankstream added to transacoes has a default or is nullable.
assert_eq "$(q "SELECT string_agg(column_name || ':' || is_nullable || ':' || coalesce(column_default, '-'), ' ' ORDER BY ordinal_position)
                  FROM information_schema.columns WHERE table_name = 'transacoes' AND ordinal_position > 14")" \
    "status:NO:'historico'::character varying motivo:YES:- batch_id:YES:- kafka_particao:YES:- kafka_offset:YES:-" \
    "bankstream's columns of transacoes: defaults and NULLs"
assert_eq "$(cols transacoes)" "id_transacao uuid, id_usuario_pagador uuid, id_usuario_recebedor uuid, id_regiao character varying, modalidade_pagamento character varying, data_horario timestamp without time zone, valor_transacao numeric, transacao_aprovada boolean, tempo_saida_resultado timestamp without time zone, tempo_entrada_kafka timestamp without time zone, tempo_inicio_processamento timestamp without time zone, latencia_total_ms bigint, tempo_processamento_ms bigint, created_at timestamp without time zone, status character varying, motivo character varying, batch_id bigint, kafka_particao integer, kafka_offset bigint" "transacoes columns"
assert_eq "$(cols usuarios)" "id_usuario uuid, id_regiao character varying, saldo numeric, limite_pix numeric, limite_ted numeric, limite_doc numeric, limite_boleto numeric, created_at timestamp without time zone" "usuarios columns"
assert_eq "$(cols regioes)" "id_regiao character varying, latitude double precision, longitude double precision, media_transacional_mensal numeric, num_fraudes_ult_30d integer" "regioes columns"
assert_eq "$(cols transacoes_scores)" "id_transacao uuid, t5_score double precision, t6_score double precision, t7_score double precision" "transacoes_scores columns"
assert_eq "$(cols batch_log)" "batch_id bigint, topic text, end_offsets ARRAY, start_offsets ARRAY, n_mensagens integer, n_aprovadas integer, n_rejeitadas integer, n_nao_processadas integer, n_dead_letters integer, ranks integer, committed_at timestamp with time zone, last_ts_ms ARRAY, nota text" "batch_log columns"
assert_eq "$(cols dead_letters)" "id bigint, batch_id bigint, kafka_particao integer, kafka_offset bigint, tempo_entrada_kafka timestamp without time zone, payload bytea, erro text, created_at timestamp without time zone, topic text, tamanho bigint, sha256 text" "dead_letters columns"
assert_eq "$(cols saldos_expurgados)" "id_usuario uuid, delta_centavos bigint, ultimo_aprovado timestamp without time zone" "saldos_expurgados columns"
assert_eq "$(cols transacoes_ids_expurgados)" "id_transacao uuid" "transacoes_ids_expurgados columns"
assert_eq "$(q "SELECT numeric_precision || ',' || numeric_scale FROM information_schema.columns WHERE table_name = 'usuarios' AND column_name = 'saldo'")" "15,2" "saldo is numeric(15,2)"
assert_eq "$(q "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'transacoes'")" \
    "idx_transacoes_batch_id idx_transacoes_data_horario idx_transacoes_latencia_total_ms idx_transacoes_modalidade_pagamento idx_transacoes_transacao_aprovada transacoes_pkey" \
    "indexes of transacoes"
# No index on transacoes_scores, as in the original (each would cost every
# row an insert at a random place: README, "The rate as history grows").
assert_eq "$(q "SELECT count(*) FROM pg_indexes WHERE tablename = 'transacoes_scores'")" 0 "indexes of transacoes_scores"
assert_eq "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'usuarios'::regclass AND contype = 'p'")" \
    "PRIMARY KEY (id_usuario)" "usuarios primary key"
assert_eq "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'transacoes_duplicadas'::regclass AND contype = 'p'")" \
    "PRIMARY KEY (topic, kafka_particao, kafka_offset)" "transacoes_duplicadas primary key"
assert_eq "$(q "SELECT string_agg(pg_get_constraintdef(oid), ' ') FROM pg_constraint WHERE conrelid = 'dead_letters'::regclass AND contype = 'u'")" \
    "UNIQUE (topic, kafka_particao, kafka_offset)" "dead_letters unique key"

# --- reference data
assert_eq "$(q "SELECT count(*) FROM regioes")" 27 "regions"
assert_eq "$(q "SELECT string_agg(id_regiao, ' ' ORDER BY id_regiao) FROM regioes")" \
    "$(echo AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO | tr ' ' '\n' | LC_ALL=C sort | paste -sd' ')" \
    "the 27 UFs"
assert_eq "$(q "SELECT latitude || ',' || longitude FROM regioes WHERE id_regiao = 'SP'")" "-23.55,-46.63" "SP coordinates"
assert_eq "$(q "SELECT latitude || ',' || longitude FROM regioes WHERE id_regiao = 'RJ'")" "-22.91,-43.17" "RJ coordinates"
assert_eq "$(q "SELECT count(*) FROM regioes WHERE media_transacional_mensal BETWEEN 1000 AND 31000 AND num_fraudes_ult_30d BETWEEN 0 AND 99")" 27 "region figures in range"
assert_eq "$(q "SELECT count(*) || ' ' || count(DISTINCT id_usuario) FROM usuarios")" "5000 5000" "user count"
assert_eq "$(q "SELECT count(*) FROM usuarios u JOIN regioes r USING (id_regiao)")" 5000 "users' regions exist"
assert_eq "$(q "SELECT count(*) FROM usuarios WHERE limite_pix = limite_ted AND limite_ted = limite_doc AND limite_doc = limite_boleto AND limite_pix >= 100 AND saldo >= 0")" 5000 "one limit >= 100 per user"
assert_eq "$(q "SELECT count(*) FROM usuarios WHERE substr(id_usuario::text, 15, 1) = '4'")" 5000 "version-4 UUIDs"
# loose sanity on the means (5000 users: standard error about 1.4%)
assert_eq "$(q "SELECT avg(saldo) BETWEEN 4500 AND 5500 AND avg(limite_pix) BETWEEN 4600 AND 5600 FROM usuarios")" "t" "means of saldo and limit"
assert_eq "$(q "SELECT string_agg(chave || '=' || valor, ' ' ORDER BY chave) FROM bankstream_meta WHERE chave NOT IN ('initialized_at', 'database_id')")" \
    "schema_version=2 seed=7 users=5000" "bankstream_meta"
# database_id: a UUID that snapshots carry; new at every (forced) init.
first_id=$(q "SELECT valor::uuid FROM bankstream_meta WHERE chave = 'database_id'")
[ -n "$first_id" ] || fail "bankstream_meta has no database_id"

# --- a second init with the same parameters changes nothing
# (but drops the index on transacoes_scores that earlier versions made; an
# index of the operator's own stays)
q "CREATE INDEX idx_transacoes_scores_id_transacao ON transacoes_scores (id_transacao);
   CREATE INDEX scores_t5_do_operador ON transacoes_scores (t5_score)" >/dev/null
sum1=$(checksum)
content1=$(content)
out=$("$BANKSTREAM" init --pg "$db" --users 5000 --seed 7)
assert_eq "$out" "already initialized (5000 users, seed 7); use --force to reload" "second init"
assert_eq "$(checksum)" "$sum1" "checksum after a second init"
assert_eq "$(q "SELECT string_agg(indexname, ' ') FROM pg_indexes WHERE tablename = 'transacoes_scores'")" \
    "scores_t5_do_operador" "indexes of transacoes_scores after the second init"
q "DROP INDEX scores_t5_do_operador" >/dev/null

# --- other parameters without --force: refused, nothing changed
rc=0; err=$("$BANKSTREAM" init --pg "$db" --users 5000 --seed 8 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "exit status of init with another seed"
assert_contains "$err" "--force" "init with another seed says to use --force"
assert_eq "$(checksum)" "$sum1" "checksum after a refused init (seed)"
assert_fails "--force" "$BANKSTREAM" init --pg "$db" --users 4000 --seed 7
assert_eq "$(checksum)" "$sum1" "checksum after a refused init (users)"

# --- bad usage: exit 2, nothing changed
for args in "--users 0" "--users 100000001" "--users abc" "--users -5" "--seed x" "--bogus" "extra"; do
    rc=0; err=$("$BANKSTREAM" init --pg "$db" $args 2>&1 >/dev/null) || rc=$?
    assert_eq "$rc" 2 "exit status of init $args"
    assert_eq "$(printf '%s\n' "$err" | wc -l)" 1 "init $args: one error line"
done
assert_eq "$(checksum)" "$sum1" "checksum after usage errors"

# --- the function and the views, on rows. data_horario is a year old for
# all; created_at (insert time) decides what retention deletes.
q "INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
       modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
       tempo_saida_resultado, latencia_total_ms, tempo_processamento_ms, created_at, status,
       motivo, batch_id, kafka_particao, kafka_offset)
   SELECT gen_random_uuid(), (SELECT id_usuario FROM usuarios ORDER BY 1 LIMIT 1),
          (SELECT id_usuario FROM usuarios ORDER BY 1 DESC LIMIT 1), 'SP', m, now() - '400 days'::interval, v,
          true, date_trunc('hour', now()) - (h || ' hours')::interval, l, l / 2,
          now() - (d || ' days')::interval, 'aprovada', NULL, b, 0, o
     FROM (VALUES ('PIX', 1, 100, 0, 0, 10.00, 1), ('PIX', 5, 300, 1, 0, 10.00, 1),
                  ('TED', 40, 50, 2, 1, 12.34, 2), ('DOC', 10, NULL, 3, 0, 1.01, 3))
          AS v(m, d, l, o, h, v, b);
   INSERT INTO transacoes_scores SELECT id_transacao, 0, 0, 0 FROM transacoes"
assert_eq "$(q "SELECT modalidade_pagamento || ':' || total_transacoes || ':' || latencia_minima_ms || ':' || latencia_maxima_ms
                  FROM vw_performance_stats ORDER BY 1")" $'PIX:2:100:300\nTED:1:50:50' "vw_performance_stats"
assert_eq "$(q "SELECT latencia_p95_ms FROM vw_performance_stats WHERE modalidade_pagamento = 'PIX'")" \
    "$(q "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY l) FROM (VALUES (100), (300)) v(l)")" "p95 of PIX"
assert_eq "$(q "SELECT transacoes_por_hora || ' ' || (hora = date_trunc('hour', now()) - interval '1 hour' * (2 - transacoes_por_hora)) FROM vw_performance_temporal")" \
    $'2 true\n1 true' "vw_performance_temporal: rows with a latency per hour, newest hour first"
ledger() { # per user: usuarios + what retention carried + the remaining approved rows (centavos)
    q "SELECT string_agg(u.id_usuario || '=' || ((u.saldo * 100)::bigint + coalesce(c.delta_centavos, 0)
                         + coalesce(l.d, 0)), ' ' ORDER BY u.id_usuario)
         FROM usuarios u LEFT JOIN saldos_expurgados c USING (id_usuario)
         LEFT JOIN (SELECT x, sum(d) AS d FROM (
                 SELECT id_usuario_pagador AS x, -(valor_transacao * 100)::bigint AS d FROM transacoes WHERE status = 'aprovada'
                 UNION ALL SELECT id_usuario_recebedor, (valor_transacao * 100)::bigint FROM transacoes WHERE status = 'aprovada') y
             GROUP BY x) l ON l.x = u.id_usuario"
}
ledger0=$(ledger)
ids0=$(q "SELECT string_agg(id_transacao::text, ' ' ORDER BY id_transacao) FROM transacoes")
assert_eq "$(q "SELECT limpar_transacoes_antigas()")" 1 "limpar_transacoes_antigas() deletes the row inserted 40 days ago"
assert_eq "$(q "SELECT count(*) || ' ' || (SELECT count(*) FROM transacoes_scores) FROM transacoes")" "3 3" "rows left after cleaning"
assert_eq "$(q "SELECT limpar_transacoes_antigas(dias_retencao => 7)")" 1 "limpar_transacoes_antigas(dias_retencao => 7) deletes the row inserted 10 days ago"
assert_eq "$(q "SELECT string_agg(modalidade_pagamento, ' ' ORDER BY kafka_offset) FROM transacoes")" "PIX PIX" "rows left"
assert_eq "$(ledger)" "$ledger0" "balances (usuarios + carried + remaining rows) unchanged by retention"
assert_eq "$(q "SELECT string_agg(id_transacao::text, ' ' ORDER BY id_transacao) FROM (SELECT id_transacao FROM transacoes UNION ALL SELECT id_transacao FROM transacoes_ids_expurgados) x")" \
    "$ids0" "every id still seen (transacoes + purged ids)"
assert_eq "$(q "SELECT delta_centavos || ' ' || (ultimo_aprovado IS NOT NULL) FROM saldos_expurgados ORDER BY id_usuario")" \
    $'-1335 true\n1335 false' "carried: the payer's debits and newest approval, the receiver's credits"
assert_eq "$(q "SELECT valor FROM bankstream_meta WHERE chave = 'expurgado_ate_batch'")" 3 "highest purged batch"
# The original's writers insert only the original's columns (their Spark
# job's JDBC append): the row is history that bankstream did not decide.
q "INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
       modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
       tempo_saida_resultado, tempo_entrada_kafka, tempo_inicio_processamento,
       latencia_total_ms, tempo_processamento_ms)
   VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'RJ', 'PIX', now(), 5, true,
           now(), now(), now(), 3, 1)"
assert_eq "$(q "SELECT status || ' ' || coalesce(batch_id::text, 'null') || ' ' || (created_at IS NOT NULL) FROM transacoes WHERE id_regiao = 'RJ'")" \
    "historico null true" "an INSERT of the original's columns only: status 'historico'"
assert_eq "$(ledger)" "$ledger0" "a historic row is not in the ledger"

# --- --force reloads: another seed, then the first seed again gives the first users
out=$("$BANKSTREAM" init --pg "$db" --users 3000 --seed 8 --force)
assert_contains "$out" "3000 users" "init --force summary"
assert_eq "$(q "SELECT count(*) FROM usuarios")" 3000 "user count after --force"
assert_eq "$(q "SELECT count(*) FROM transacoes")" 0 "--force dropped the transactions"
assert_eq "$(q "SELECT valor FROM bankstream_meta WHERE chave = 'seed'")" 8 "seed recorded after --force"
[ "$(q "SELECT valor FROM bankstream_meta WHERE chave = 'database_id'")" != "$first_id" ] ||
    fail "init --force must give the database a new database_id"
"$BANKSTREAM" init --pg "$db" --users 5000 --seed 7 --force >/dev/null
assert_eq "$(content)" "$content1" "same users and seed give the same rows"
assert_eq "$(q "SELECT limpar_transacoes_antigas()")" 0 "limpar_transacoes_antigas() on an empty table"
assert_eq "$(q "SELECT count(*) FROM vw_performance_stats") $(q "SELECT count(*) FROM vw_performance_temporal")" "0 0" "views on an empty table"

# --- a failing init leaves nothing behind: the function (created last) conflicts
db2=$(new_database initfail)
psql_q "$db2" "CREATE FUNCTION limpar_transacoes_antigas(dias integer) RETURNS text LANGUAGE sql AS 'SELECT ''mine'''"
rc=0; err=$("$BANKSTREAM" init --pg "$db2" --users 100 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "exit status of a failing init"
assert_contains "$err" "limpar_transacoes_antigas" "failing init names the conflict"
assert_eq "$(psql_q "$db2" "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")" 0 "no table, index or view left by the failed init"
assert_eq "$(psql_q "$db2" "SELECT limpar_transacoes_antigas(1)")" "mine" "the conflicting function is untouched"

# --- the original's seed script on a bankstream database: its CREATE OR
# REPLACE of the views and the function must succeed; init then puts
# bankstream's function (owner's rights) back, keeping every row.
psql "$db" -XAtq -v ON_ERROR_STOP=1 -f "$(dirname "$0")/../reference/original_schema.sql" >/dev/null ||
    fail "the original's seed script failed on a bankstream database"
assert_eq "$(q "SELECT prosecdef FROM pg_proc WHERE oid = 'limpar_transacoes_antigas(integer)'::regprocedure")" f \
    "the original's function replaced bankstream's"
sum2=$(checksum)
"$BANKSTREAM" init --pg "$db" --users 5000 --seed 7 >/dev/null
assert_eq "$(q "SELECT prosecdef FROM pg_proc WHERE oid = 'limpar_transacoes_antigas(integer)'::regprocedure")" t \
    "init put bankstream's function back"
assert_eq "$(checksum)" "$sum2" "checksum after init over the original's seed script"

# --- rows nobody recorded (e.g. the original system's table): refused without --force
db3=$(new_database initforeign)
psql_q "$db3" "CREATE TABLE usuarios (id_usuario uuid PRIMARY KEY, id_regiao varchar(2), saldo numeric(15,2));
               INSERT INTO usuarios VALUES (gen_random_uuid(), 'SP', 10)"
rc=0; err=$("$BANKSTREAM" init --pg "$db3" --users 100 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "exit status for a foreign usuarios table"
assert_contains "$err" "usuarios" "the foreign table is named"
assert_eq "$(psql_q "$db3" "SELECT count(*) FROM usuarios") $(psql_q "$db3" "SELECT to_regclass('regioes') IS NULL")" "1 t" "foreign data untouched, nothing created"
"$BANKSTREAM" init --pg "$db3" --users 100 --force >/dev/null
assert_eq "$(psql_q "$db3" "SELECT count(*) FROM usuarios")" 100 "--force replaces the foreign table"

# --- an unreachable server, not waited for (--pg-wait 0): one clear line, exit 1
# (waiting for one is tested in 20-db.sh, which stops and starts a server)
rc=0; err=$("$BANKSTREAM" init --pg "host=127.0.0.1 port=$(free_port) dbname=x user=postgres connect_timeout=3" --pg-wait 0 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "exit status with no server"
assert_contains "$err" "cannot connect to PostgreSQL at host=127.0.0.1" "no-server message"
assert_eq "$(printf '%s\n' "$err" | wc -l)" 1 "no-server error is one line"

drop_databases
echo "ok"
