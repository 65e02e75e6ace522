#!/usr/bin/env bash
# 34-upgrade.sh - a database of bankstream's schema version 1
# (tests/reference/bankstream_v1.sql, made by the previous version over the
# messages of tests/reference/v1_messages.sh) is upgraded in place by
# `bankstream init`: `run` refuses it before, naming the fix; init keeps
# every row and the database's identity, renames the views' columns and the
# function's parameter (DROP + CREATE), gives bankstream's columns their
# defaults, makes transacao_aprovada false where version 1 wrote NULL, keys
# duplicates and dead letters by topic (filled from batch_log), hashes the
# old dead letters and gives their error the 'json: ' this version writes,
# adds the retention tables, and is idempotent. The stream
# then goes on over the same topic, and every decision, duplicate, dead
# letter, batch and balance equals a run of this version from scratch.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../reference/v1_messages.sh"

db=$(new_database upgrade)
ref=$(new_database upgref)
topic=$(new_topic upgrade)
cleanup() {
    for d in "$db" "$ref"; do
        psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $(sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$d") WITH (FORCE)" >/dev/null 2>&1
    done
}
trap cleanup EXIT
q() { psql_q "$db" "$1"; }
run() { # db
    local out
    out=$(mpirun_bs 2 run --pg "$1" --brokers "$BS_TEST_BROKERS" --topic "$topic" --batch-size 50 \
        --batch-ms 0 --snapshot-dir none --until-idle 2>&1) || { echo "$out"; fail "run failed"; }
}

# --- the version-1 database, its batches renamed to this test's topic
psql "$db" -XAtq -v ON_ERROR_STOP=1 -f "$(dirname "$0")/../reference/bankstream_v1.sql" >/dev/null
q "UPDATE batch_log SET topic = '$topic'" >/dev/null
id0=$(q "SELECT valor FROM bankstream_meta WHERE chave = 'database_id'")
assert_eq "$(q "SELECT count(*) FROM transacoes WHERE transacao_aprovada IS NULL")" 1 "version 1 wrote a NULL"

# The same messages again, and a run of this version from scratch over them.
v1_messages "$BANKSTREAM" "$db" "$BS_TEST_BROKERS" "$topic"
"$BANKSTREAM" init --pg "$ref" --users 60 --seed 42 >/dev/null
run "$ref"
assert_eq "$(psql_q "$ref" "SELECT string_agg(batch_id || ' ' || start_offsets::text || ' ' || end_offsets::text, ';' ORDER BY batch_id) FROM batch_log")" \
    "$(q "SELECT string_agg(batch_id || ' ' || start_offsets::text || ' ' || end_offsets::text, ';' ORDER BY batch_id) FROM batch_log")" \
    "the fixture's batches are this topic's"

# --- run refuses the old schema, naming the fix
rc=0; err=$(mpirun_bs 1 run --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$topic" --snapshot-dir none \
    --until-idle 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "run on a version-1 database exited 0"
assert_contains "$err" "run 'bankstream init' to upgrade the database" "run names the fix"

# --- the upgrade
before=$(q "SELECT md5(string_agg(concat_ws(',', id_transacao, id_usuario_pagador, id_usuario_recebedor,
    data_horario, valor_transacao, tempo_entrada_kafka, status, motivo, batch_id, kafka_particao, kafka_offset,
    created_at), ';' ORDER BY id_transacao)) FROM transacoes")
out=$("$BANKSTREAM" init --pg "$db" --users 60 --seed 42)
assert_eq "$out" "upgraded the schema from version 1 to 2; every row kept (60 users, seed 42)" "upgrade summary"
assert_eq "$(q "SELECT md5(string_agg(concat_ws(',', id_transacao, id_usuario_pagador, id_usuario_recebedor,
    data_horario, valor_transacao, tempo_entrada_kafka, status, motivo, batch_id, kafka_particao, kafka_offset,
    created_at), ';' ORDER BY id_transacao)) FROM transacoes")" "$before" "transactions kept"
assert_eq "$(q "SELECT valor FROM bankstream_meta WHERE chave = 'database_id'")" "$id0" "the database keeps its identity"
assert_eq "$(q "SELECT valor FROM bankstream_meta WHERE chave = 'schema_version'")" 2 "schema version"
assert_eq "$(q "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'vw_performance_stats'::regclass")" \
    "modalidade_pagamento,total_transacoes,latencia_media_ms,latencia_minima_ms,latencia_maxima_ms,latencia_p95_ms,tempo_processamento_medio_ms" \
    "vw_performance_stats upgraded"
assert_eq "$(q "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'vw_performance_temporal'::regclass")" \
    "hora,transacoes_por_hora,latencia_media_ms" "vw_performance_temporal upgraded"
assert_eq "$(q "SELECT pg_get_function_arguments('limpar_transacoes_antigas(integer)'::regprocedure)")" \
    "dias_retencao integer DEFAULT 30" "the function's parameter"
assert_eq "$(q "SELECT count(*) FROM transacoes WHERE transacao_aprovada IS NULL")" 0 "no NULL transacao_aprovada"
assert_eq "$(q "SELECT transacao_aprovada FROM transacoes WHERE status = 'nao_processada'")" f \
    "not processed: transacao_aprovada false"
assert_eq "$(q "SELECT string_agg(DISTINCT topic, ',') FROM (SELECT topic FROM dead_letters UNION ALL SELECT topic FROM transacoes_duplicadas) x")" \
    "$topic" "old dead letters and duplicates get their batch's topic"
assert_eq "$(q "SELECT count(*) FROM dead_letters WHERE tamanho = octet_length(payload) AND sha256 = encode(sha256(payload), 'hex')")" 2 \
    "old dead letters get their length and hash"
assert_eq "$(q "SELECT count(*) FROM dead_letters WHERE erro NOT LIKE 'json: %'")" 0 \
    "old dead letters' errors name the encoding"
assert_eq "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'transacoes_duplicadas'::regclass AND contype = 'p'")" \
    "PRIMARY KEY (topic, kafka_particao, kafka_offset)" "duplicates keyed by topic"
assert_eq "$(q "SELECT string_agg(pg_get_constraintdef(oid), ' ') FROM pg_constraint WHERE conrelid = 'dead_letters'::regclass AND contype = 'u'")" \
    "UNIQUE (topic, kafka_particao, kafka_offset)" "dead letters keyed by topic"
assert_eq "$(q "SELECT count(*) FROM pg_attribute WHERE attrelid = 'transacoes'::regclass AND attname IN ('batch_id', 'kafka_particao', 'kafka_offset') AND attnotnull")" \
    0 "transacoes' Kafka columns nullable"
q "INSERT INTO transacoes (id_transacao, valor_transacao) VALUES (gen_random_uuid(), 1)" >/dev/null ||
    fail "an INSERT of the original's columns after the upgrade"
q "DELETE FROM transacoes WHERE batch_id IS NULL" >/dev/null
q "DELETE FROM transacoes_ids_expurgados" >/dev/null
out=$("$BANKSTREAM" init --pg "$db" --users 60 --seed 42)
assert_eq "$out" "already initialized (60 users, seed 42); use --force to reload" "a second init"

# --- the stream goes on: more messages, a duplicate of an old one, a dead letter
"$BANKSTREAM" produce --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$topic" --count 150 --rate 0 \
    --seed 10 --start-time 1750000100000 --historic 0 --quiet
"$BANKSTREAM" produce --pg "$db" --output - --count 150 --rate 0 --seed 9 --start-time 1750000000000 \
    --historic 0 --quiet | sed -n 7p | kcat -b "$BS_TEST_BROKERS" -t "$topic" -P -K $'\t'
printf 'still not json\n' | kcat -b "$BS_TEST_BROKERS" -t "$topic" -P -p 1
run "$db"
run "$ref"
same() { # what sql
    assert_eq "$(q "$2")" "$(psql_q "$ref" "$2")" "$1 equal to a run from scratch"
}
same transacoes "SELECT id_transacao, id_usuario_pagador, id_usuario_recebedor, valor_transacao, transacao_aprovada,
    status, motivo, batch_id, kafka_particao, kafka_offset FROM transacoes ORDER BY id_transacao"
same scores "SELECT * FROM transacoes_scores ORDER BY id_transacao"
same duplicates "SELECT id_transacao, batch_id, kafka_particao, kafka_offset, md5(payload), topic
    FROM transacoes_duplicadas ORDER BY 1"
same "dead letters" "SELECT batch_id, kafka_particao, kafka_offset, md5(payload), erro, topic, tamanho, sha256
    FROM dead_letters ORDER BY batch_id, kafka_particao, kafka_offset"
same batch_log "SELECT batch_id, topic, start_offsets, end_offsets, n_mensagens, n_aprovadas, n_rejeitadas,
    n_nao_processadas, n_dead_letters FROM batch_log ORDER BY batch_id"
same balances "SELECT u.id_usuario, (u.saldo * 100)::bigint + coalesce(sum(CASE WHEN t.id_usuario_recebedor = u.id_usuario
        THEN 1 ELSE -1 END * (t.valor_transacao * 100)::bigint), 0)
    FROM usuarios u LEFT JOIN transacoes t ON t.status = 'aprovada'
        AND u.id_usuario IN (t.id_usuario_pagador, t.id_usuario_recebedor)
    GROUP BY u.id_usuario, u.saldo ORDER BY 1"
assert_eq "$(q "SELECT count(*) FROM batch_log WHERE last_ts_ms IS NULL")" 5 "old batches have no last_ts_ms"
echo "ok"
