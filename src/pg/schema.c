/* schema.c - the DDL of database `bank`, its upgrades, and the checks that
 * it is in place.
 *
 * Design:
 *   1. Names, columns and column types of the original tables, views and
 *      function are a contract with external readers and with the
 *      original's seed script, which runs CREATE OR REPLACE on the views and
 *      the function (SYSTEM.md): never rename or reorder them; bankstream's
 *      columns come after the original ones, each with a default or
 *      nullable, so that an INSERT of the original's columns still works.
 *   2. The DDL is idempotent and upgrades in place: the same steps create a
 *      fresh database, bring a version-1 database to this version, and
 *      adopt the original's own database (ALTER TABLE ... ADD COLUMN),
 *      keeping every row. Columns added later are appended, so that every
 *      path ends with the same layout. schema_check_upgradable() refuses,
 *      before anything changes, a same-named table of another layout.
 *   3. Retention (limpar_transacoes_antigas, or any DELETE on transacoes)
 *      must not change a balance, a restore or duplicate detection: the
 *      statement trigger transacoes_expurgo folds the approved rows deleted
 *      into saldos_expurgados (per user: credits - debits in centavos, and
 *      the newest approved payment), keeps the deleted ids in
 *      transacoes_ids_expurgados and raises bankstream_meta
 *      'expurgado_ate_batch' to the highest batch deleted, in the deleting
 *      transaction. The state reads (pgstate.c) add them back.
 *   4. schema_checks below mirrors the CREATE TABLEs: keep them in step. */
#include "pg/schema.h"
#include "pg/pgconn.h"
#include "pg/schema_dashboard.h"

#include <stdio.h>
#include <string.h>

#define SCHEMA_STR_(x) #x
#define SCHEMA_STR(x)  SCHEMA_STR_(x)
#define SCHEMA_LOCK    "SELECT pg_advisory_xact_lock(" SCHEMA_STR(SCHEMA_LOCK_KEY) ");\n"

const char schema_lock_sql[] = "SELECT pg_advisory_xact_lock(" SCHEMA_STR(SCHEMA_LOCK_KEY) ")";

/* The number of columns of a table, as an SQL expression. */
#define NCOLS(t)                                                                                   \
    "(SELECT count(*) FROM pg_attribute WHERE attrelid = '" t "'::regclass"                        \
    " AND attnum > 0 AND NOT attisdropped)"
#define HAS_COL(t, c)                                                                              \
    "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '" t "'::regclass AND attname = '" c      \
    "' AND NOT attisdropped)"

static const char ddl_tables[] =
    "CREATE TABLE IF NOT EXISTS regioes (\n"
    "    id_regiao varchar(2) PRIMARY KEY,\n"
    "    latitude float,\n"
    "    longitude float,\n"
    "    media_transacional_mensal numeric(15,2),\n"
    "    num_fraudes_ult_30d int\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS usuarios (\n"
    "    id_usuario uuid PRIMARY KEY,\n"
    "    id_regiao varchar(2),\n"
    "    saldo numeric(15,2),\n"
    "    limite_pix numeric(15,2),\n"
    "    limite_ted numeric(15,2),\n"
    "    limite_doc numeric(15,2),\n"
    "    limite_boleto numeric(15,2),\n"
    "    created_at timestamp DEFAULT now()\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS transacoes (\n"
    "    id_transacao uuid PRIMARY KEY,\n"
    "    id_usuario_pagador uuid,\n"
    "    id_usuario_recebedor uuid,\n"
    "    id_regiao varchar(2),\n"
    "    modalidade_pagamento varchar(6),\n"
    "    data_horario timestamp,\n"
    "    valor_transacao numeric(15,2),\n"
    "    transacao_aprovada bool,\n"
    "    tempo_saida_resultado timestamp,\n"
    "    tempo_entrada_kafka timestamp,\n"
    "    tempo_inicio_processamento timestamp,\n"
    "    latencia_total_ms bigint,\n"
    "    tempo_processamento_ms bigint,\n"
    "    created_at timestamp DEFAULT now(),\n"
    "    -- bankstream: 'aprovada' | 'rejeitada' | 'nao_processada', or 'historico'\n"
    "    -- for a row bankstream did not decide (the original's, or any INSERT of\n"
    "    -- the original's columns only): not in the ledger, its id is seen\n"
    "    status varchar(14) NOT NULL DEFAULT 'historico',\n"
    "    -- NULL when approved; rejected: saldo_insuficiente, limite_excedido, risco,\n"
    "    -- pagador_desconhecido, recebedor_desconhecido; not processed: atrasada,\n"
    "    -- anterior_a_ultima, data_futura\n"
    "    motivo varchar(24),\n"
    "    batch_id bigint,          -- NULL for historic rows\n"
    "    kafka_particao int,\n"
    "    kafka_offset bigint\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS transacoes_scores (\n"
    "    id_transacao uuid,\n"
    "    t5_score float,\n"
    "    t6_score float,\n"
    "    t7_score float\n"
    ");\n"
    "-- a transaction id seen before: not processed, never debited twice\n"
    "CREATE TABLE IF NOT EXISTS transacoes_duplicadas (\n"
    "    id_transacao uuid NOT NULL,\n"
    "    batch_id bigint NOT NULL,\n"
    "    kafka_particao int NOT NULL,\n"
    "    kafka_offset bigint NOT NULL,\n"
    "    tempo_entrada_kafka timestamp,\n"
    "    payload bytea,\n"
    "    created_at timestamp DEFAULT now(),\n"
    "    topic text NOT NULL,\n"
    "    PRIMARY KEY (topic, kafka_particao, kafka_offset)\n"
    ");\n"
    "-- the exactly-once ledger: one row per committed batch\n"
    "CREATE TABLE IF NOT EXISTS batch_log (\n"
    "    batch_id bigint PRIMARY KEY,\n"
    "    topic text NOT NULL,\n"
    "    end_offsets bigint[] NOT NULL,   -- next offset to read, index = partition\n"
    "    start_offsets bigint[] NOT NULL,\n"
    "    n_mensagens int NOT NULL,\n"
    "    n_aprovadas int NOT NULL,\n"
    "    n_rejeitadas int NOT NULL,\n"
    "    n_nao_processadas int NOT NULL,\n"
    "    n_dead_letters int NOT NULL,\n"
    "    ranks int NOT NULL,\n"
    "    committed_at timestamptz NOT NULL DEFAULT now(),\n"
    "    -- Kafka timestamp (ms) of the last message taken from each partition,\n"
    "    -- -1 for none; NULL in rows of version 1\n"
    "    last_ts_ms bigint[],\n"
    "    nota text                        -- a note, e.g. an accepted gap\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS dead_letters (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    batch_id bigint NOT NULL,\n"
    "    kafka_particao int NOT NULL,\n"
    "    kafka_offset bigint NOT NULL,\n"
    "    tempo_entrada_kafka timestamp,\n"
    "    payload bytea NOT NULL,          -- the first 64 KiB of the message\n"
    "    erro text NOT NULL,\n"
    "    created_at timestamp DEFAULT now(),\n"
    "    topic text NOT NULL,\n"
    "    tamanho bigint,                  -- the whole message's length in bytes\n"
    "    sha256 text,                     -- of the whole message, hex\n"
    "    CONSTRAINT dead_letters_topic_particao_offset_key\n"
    "        UNIQUE (topic, kafka_particao, kafka_offset)\n"
    ");\n"
    "-- schema_version, users, seed ('adotado' for an adopted database),\n"
    "-- initialized_at, database_id (new at every init: snapshots record it so that\n"
    "-- one database never restores another's), expurgado_ate_batch (retention)\n"
    "CREATE TABLE IF NOT EXISTS bankstream_meta (\n"
    "    chave text PRIMARY KEY,\n"
    "    valor text NOT NULL\n"
    ");\n"
    "-- retention: what the deleted approved rows did to each user's balance\n"
    "CREATE TABLE IF NOT EXISTS saldos_expurgados (\n"
    "    id_usuario uuid PRIMARY KEY,\n"
    "    delta_centavos bigint NOT NULL,  -- credits - debits\n"
    "    ultimo_aprovado timestamp        -- data_horario of the newest approved payment\n"
    ");\n"
    "-- retention: the ids of the deleted rows, still seen by the duplicate filter\n"
    "CREATE TABLE IF NOT EXISTS transacoes_ids_expurgados (\n"
    "    id_transacao uuid PRIMARY KEY\n"
    ");\n";

/* The original's transacoes lacks bankstream's columns; version 1 had them
 * NOT NULL without defaults and wrote NULL transacao_aprovada for rows not
 * processed. */
static const char ddl_upgrade_transacoes[] =
    "DO $do$\n"
    "BEGIN\n"
    "    IF " NCOLS(
        "transacoes") " < 19 THEN\n"
                      "        ALTER TABLE transacoes\n"
                      "            ADD COLUMN IF NOT EXISTS status varchar(14) NOT NULL DEFAULT "
                      "'historico',\n"
                      "            ADD COLUMN IF NOT EXISTS motivo varchar(24),\n"
                      "            ADD COLUMN IF NOT EXISTS batch_id bigint,\n"
                      "            ADD COLUMN IF NOT EXISTS kafka_particao int,\n"
                      "            ADD COLUMN IF NOT EXISTS kafka_offset bigint;\n"
                      "    END IF;\n"
                      "    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
                      "'transacoes'::regclass\n"
                      "                      AND attname = 'status' AND atthasdef) THEN\n"
                      "        ALTER TABLE transacoes ALTER COLUMN status SET DEFAULT "
                      "'historico';\n"
                      "    END IF;\n"
                      "    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
                      "'transacoes'::regclass\n"
                      "                  AND attname IN ('batch_id', 'kafka_particao', "
                      "'kafka_offset')\n"
                      "                  AND attnotnull) THEN\n"
                      "        ALTER TABLE transacoes ALTER COLUMN batch_id DROP NOT NULL,\n"
                      "            ALTER COLUMN kafka_particao DROP NOT NULL,\n"
                      "            ALTER COLUMN kafka_offset DROP NOT NULL;\n"
                      "    END IF;\n"
                      "    UPDATE transacoes SET transacao_aprovada = false\n"
                      "     WHERE transacao_aprovada IS NULL AND status = 'nao_processada';\n"
                      "END\n"
                      "$do$;\n";

/* Version 1 keyed duplicates and dead letters by (partition, offset) only;
 * its rows get the topic of their batch. Its dead letters get their length
 * and hash (they were stored whole), and their error the encoding's prefix
 * this version writes ('json: ': version 1 read JSON only). */
static const char ddl_upgrade_duplicates[] =
    "DO $do$\n"
    "DECLARE\n"
    "    c record;\n"
    "BEGIN\n"
    "    IF NOT " HAS_COL(
        "transacoes_duplicadas",
        "topic") " THEN\n"
                 "        ALTER TABLE transacoes_duplicadas ADD COLUMN topic text;\n"
                 "        UPDATE transacoes_duplicadas d SET topic = b.topic FROM batch_log b\n"
                 "         WHERE b.batch_id = d.batch_id;\n"
                 "        UPDATE transacoes_duplicadas SET topic = '' WHERE topic IS NULL;\n"
                 "        ALTER TABLE transacoes_duplicadas ALTER COLUMN topic SET NOT NULL;\n"
                 "    END IF;\n"
                 "    IF NOT EXISTS (SELECT 1 FROM pg_constraint\n"
                 "                    WHERE conrelid = 'transacoes_duplicadas'::regclass AND "
                 "contype = 'p'\n"
                 "                      AND pg_get_constraintdef(oid) =\n"
                 "                          'PRIMARY KEY (topic, kafka_particao, kafka_offset)') "
                 "THEN\n"
                 "        FOR c IN SELECT conname FROM pg_constraint\n"
                 "                  WHERE conrelid = 'transacoes_duplicadas'::regclass AND contype "
                 "= 'p' LOOP\n"
                 "            EXECUTE format('ALTER TABLE transacoes_duplicadas DROP CONSTRAINT "
                 "%I',\n"
                 "                           c.conname);\n"
                 "        END LOOP;\n"
                 "        ALTER TABLE transacoes_duplicadas ADD CONSTRAINT "
                 "transacoes_duplicadas_pkey\n"
                 "            PRIMARY KEY (topic, kafka_particao, kafka_offset);\n"
                 "    END IF;\n"
                 "END\n"
                 "$do$;\n";

static const char ddl_upgrade_dead_letters[] =
    "DO $do$\n"
    "DECLARE\n"
    "    c record;\n"
    "BEGIN\n"
    "    IF NOT " HAS_COL(
        "dead_letters",
        "topic") " THEN\n"
                 "        ALTER TABLE dead_letters ADD COLUMN topic text;\n"
                 "        UPDATE dead_letters d SET topic = b.topic FROM batch_log b\n"
                 "         WHERE b.batch_id = d.batch_id;\n"
                 "        UPDATE dead_letters SET topic = '' WHERE topic IS NULL;\n"
                 "        ALTER TABLE dead_letters ALTER COLUMN topic SET NOT NULL;\n"
                 "    END IF;\n"
                 "    IF NOT " HAS_COL(
                     "dead_letters",
                     "tamanho") " THEN\n"
                                "        ALTER TABLE dead_letters ADD COLUMN tamanho bigint;\n"
                                "        UPDATE dead_letters SET tamanho = length(payload),\n"
                                "            erro = CASE WHEN erro LIKE 'json: %' THEN erro\n"
                                "                        ELSE 'json: ' || erro END;\n"
                                "    END IF;\n"
                                "    IF NOT " HAS_COL(
                                    "dead_letters",
                                    "sha256") " THEN\n"
                                              "        ALTER TABLE dead_letters ADD COLUMN sha256 "
                                              "text;\n"
                                              "        UPDATE dead_letters SET sha256 = "
                                              "encode(sha256(payload), 'hex');\n"
                                              "    END IF;\n"
                                              "    IF NOT EXISTS (SELECT 1 FROM pg_constraint\n"
                                              "                    WHERE conrelid = "
                                              "'dead_letters'::regclass AND contype = 'u'\n"
                                              "                      AND pg_get_constraintdef(oid) "
                                              "=\n"
                                              "                          'UNIQUE (topic, "
                                              "kafka_particao, kafka_offset)') THEN\n"
                                              "        FOR c IN SELECT conname FROM pg_constraint\n"
                                              "                  WHERE conrelid = "
                                              "'dead_letters'::regclass AND contype = 'u'\n"
                                              "                    AND pg_get_constraintdef(oid) = "
                                              "'UNIQUE (kafka_particao, kafka_offset)'\n"
                                              "        LOOP\n"
                                              "            EXECUTE format('ALTER TABLE "
                                              "dead_letters DROP CONSTRAINT %I', c.conname);\n"
                                              "        END LOOP;\n"
                                              "        ALTER TABLE dead_letters ADD CONSTRAINT "
                                              "dead_letters_topic_particao_offset_key\n"
                                              "            UNIQUE (topic, kafka_particao, "
                                              "kafka_offset);\n"
                                              "    END IF;\n"
                                              "END\n"
                                              "$do$;\n";

static const char ddl_upgrade_batch_log[] =
    "DO $do$\n"
    "BEGIN\n"
    "    IF " NCOLS(
        "batch_log") " < 13 THEN\n"
                     "        ALTER TABLE batch_log ADD COLUMN IF NOT EXISTS last_ts_ms bigint[],\n"
                     "            ADD COLUMN IF NOT EXISTS nota text;\n"
                     "    END IF;\n"
                     "END\n"
                     "$do$;\n";

/* The original's four indexes (its database may name them otherwise: a
 * plain index on the column is enough), then bankstream's own on batch_id.
 * No index on transacoes_scores(id_transacao), as in the original: earlier
 * versions made one, and init drops it by its name. Every row added an
 * entry at a random place in it (the producers' random UUIDs), and that
 * cost grew with history: over 20 million transactions (1 million users,
 * tests/bench/memory.sh) the last quarter of the run committed at 61-68 %
 * of the first quarter's rate with it (6 runs), and at 87-98 % without it
 * (4 runs; a hash index: 76 %). What read it, retention's DELETE of the
 * scores and the archive's rebuild after a crash, joins on the whole table
 * instead: a scan of the scores, once per call. */
static const char ddl_indexes[] =
    "DO $do$\n"
    "DECLARE\n"
    "    i text[];\n"
    "BEGIN\n"
    "    FOREACH i SLICE 1 IN ARRAY ARRAY[\n"
    "        ['idx_transacoes_data_horario', 'transacoes', 'data_horario'],\n"
    "        ['idx_transacoes_latencia_total_ms', 'transacoes', 'latencia_total_ms'],\n"
    "        ['idx_transacoes_transacao_aprovada', 'transacoes', 'transacao_aprovada'],\n"
    "        ['idx_transacoes_modalidade_pagamento', 'transacoes', 'modalidade_pagamento'],\n"
    "        ['idx_transacoes_batch_id', 'transacoes', 'batch_id']] LOOP\n"
    "        IF NOT EXISTS (SELECT 1 FROM pg_index x\n"
    "                         JOIN pg_attribute a ON a.attrelid = x.indrelid\n"
    "                                            AND a.attnum = x.indkey[0]\n"
    "                        WHERE x.indrelid = i[2]::regclass AND x.indnkeyatts = 1\n"
    "                          AND a.attname = i[3] AND x.indexprs IS NULL\n"
    "                          AND x.indpred IS NULL) THEN\n"
    "            EXECUTE format('CREATE INDEX %I ON %I (%I)', i[1], i[2], i[3]);\n"
    "        END IF;\n"
    "    END LOOP;\n"
    "END\n"
    "$do$;\n"
    "DROP INDEX IF EXISTS idx_transacoes_scores_id_transacao;\n";

/* The original's names and column types (count bigint, avg numeric,
 * min/max bigint, percentile_cont double precision, date_trunc timestamp):
 * its seed script's CREATE OR REPLACE VIEW must find the same. Version 1
 * used other column names, which CREATE OR REPLACE cannot change. */
static const char ddl_view_stats[] =
    "DO $do$\n"
    "BEGIN\n"
    "    IF EXISTS (SELECT 1 FROM pg_attribute\n"
    "                WHERE attrelid = to_regclass('vw_performance_stats')\n"
    "                  AND attname = 'latencia_min_ms') THEN\n"
    "        DROP VIEW vw_performance_stats;\n"
    "    END IF;\n"
    "END\n"
    "$do$;\n"
    "CREATE OR REPLACE VIEW vw_performance_stats AS\n"
    "SELECT modalidade_pagamento,\n"
    "       count(*) AS total_transacoes,\n"
    "       avg(latencia_total_ms) AS latencia_media_ms,\n"
    "       min(latencia_total_ms) AS latencia_minima_ms,\n"
    "       max(latencia_total_ms) AS latencia_maxima_ms,\n"
    "       percentile_cont(0.95) WITHIN GROUP (ORDER BY latencia_total_ms) AS "
    "latencia_p95_ms,\n"
    "       avg(tempo_processamento_ms) AS tempo_processamento_medio_ms\n"
    "  FROM transacoes\n"
    " WHERE latencia_total_ms IS NOT NULL\n"
    " GROUP BY modalidade_pagamento;\n";

static const char ddl_view_temporal[] =
    "DO $do$\n"
    "BEGIN\n"
    "    IF EXISTS (SELECT 1 FROM pg_attribute\n"
    "                WHERE attrelid = to_regclass('vw_performance_temporal')\n"
    "                  AND attname = 'total_transacoes') THEN\n"
    "        DROP VIEW vw_performance_temporal;\n"
    "    END IF;\n"
    "END\n"
    "$do$;\n"
    "CREATE OR REPLACE VIEW vw_performance_temporal AS\n"
    "SELECT date_trunc('hour', tempo_saida_resultado) AS hora,\n"
    "       count(*) AS transacoes_por_hora,\n"
    "       avg(latencia_total_ms) AS latencia_media_ms\n"
    "  FROM transacoes\n"
    " WHERE latencia_total_ms IS NOT NULL\n"
    " GROUP BY date_trunc('hour', tempo_saida_resultado)\n"
    " ORDER BY hora DESC;\n";

/* The original's signature and semantics (created_at, the count), and the
 * scores of the rows it deletes. It runs with its owner's rights (SECURITY
 * DEFINER, a fixed search_path, no EXECUTE for PUBLIC), so that the roles
 * init creates may call it without DELETE rights; the trigger keeps the
 * state (design 3). Version 1's (parameter `dias`, by data_horario) is
 * dropped first: CREATE OR REPLACE cannot rename a parameter. */
static const char ddl_function[] =
    "DO $do$\n"
    "BEGIN\n"
    "    IF EXISTS (SELECT 1 FROM pg_proc\n"
    "                WHERE oid = to_regprocedure('limpar_transacoes_antigas(integer)')\n"
    "                  AND proargnames = ARRAY['dias'] AND prorettype = 'integer'::regtype\n"
    "                  AND prosrc LIKE '%data_horario%') THEN\n"
    "        DROP FUNCTION limpar_transacoes_antigas(integer);\n"
    "    END IF;\n"
    "END\n"
    "$do$;\n"
    "CREATE OR REPLACE FUNCTION limpar_transacoes_antigas(dias_retencao integer DEFAULT 30)\n"
    "RETURNS integer LANGUAGE plpgsql SECURITY DEFINER AS $fn$\n"
    "DECLARE\n"
    "    n integer;\n"
    "BEGIN\n"
    "    DELETE FROM transacoes_scores s\n"
    "     USING transacoes t\n"
    "     WHERE s.id_transacao = t.id_transacao\n"
    "       AND t.created_at < now() - make_interval(days => dias_retencao);\n"
    "    DELETE FROM transacoes WHERE created_at < now() - make_interval(days => dias_retencao);\n"
    "    GET DIAGNOSTICS n = ROW_COUNT;\n"
    "    RETURN n;\n"
    "END\n"
    "$fn$;\n"
    "DO $do$\n"
    "BEGIN\n"
    "    EXECUTE format('ALTER FUNCTION limpar_transacoes_antigas(integer)'\n"
    "                   ' SET search_path = %I, pg_temp', current_schema());\n"
    "END\n"
    "$do$;\n"
    "REVOKE ALL ON FUNCTION limpar_transacoes_antigas(integer) FROM PUBLIC;\n";

/* Design 3. A statement trigger with the deleted rows as a transition
 * table: whoever deletes (this function, the original's, by hand), the
 * deleting transaction also records what the rows did. */
static const char ddl_trigger[] =
    "CREATE OR REPLACE FUNCTION bankstream_expurgo() RETURNS trigger\n"
    "LANGUAGE plpgsql AS $fn$\n"
    "BEGIN\n"
    "    INSERT INTO saldos_expurgados AS s (id_usuario, delta_centavos, ultimo_aprovado)\n"
    "    SELECT u, sum(d), max(t) FROM (\n"
    "        SELECT id_usuario_pagador AS u, -(valor_transacao * 100)::bigint AS d,\n"
    "               data_horario AS t\n"
    "          FROM expurgadas WHERE status = 'aprovada'\n"
    "        UNION ALL\n"
    "        SELECT id_usuario_recebedor, (valor_transacao * 100)::bigint, NULL\n"
    "          FROM expurgadas WHERE status = 'aprovada') AS x\n"
    "     WHERE u IS NOT NULL\n"
    "     GROUP BY u\n"
    "    ON CONFLICT (id_usuario) DO UPDATE\n"
    "       SET delta_centavos = s.delta_centavos + EXCLUDED.delta_centavos,\n"
    "           ultimo_aprovado = greatest(s.ultimo_aprovado, EXCLUDED.ultimo_aprovado);\n"
    "    INSERT INTO transacoes_ids_expurgados (id_transacao)\n"
    "    SELECT id_transacao FROM expurgadas\n"
    "    ON CONFLICT DO NOTHING;\n"
    "    INSERT INTO bankstream_meta AS m (chave, valor)\n"
    "    SELECT 'expurgado_ate_batch', max(batch_id)::text FROM expurgadas\n"
    "    HAVING max(batch_id) IS NOT NULL\n"
    "    ON CONFLICT (chave) DO UPDATE\n"
    "       SET valor = greatest(m.valor::bigint, EXCLUDED.valor::bigint)::text;\n"
    "    RETURN NULL;\n"
    "END\n"
    "$fn$;\n"
    "CREATE OR REPLACE TRIGGER transacoes_expurgo AFTER DELETE ON transacoes\n"
    "    REFERENCING OLD TABLE AS expurgadas\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION bankstream_expurgo();\n";

/* schema_create's steps, in order: what each creates (for the error) and its SQL. */
static const struct {
    const char *what;
    const char *sql;
} schema_steps[] = {
    {"the schema lock", SCHEMA_LOCK},
    {"the tables", ddl_tables},
    {"table transacoes (bankstream's columns)", ddl_upgrade_transacoes},
    {"table transacoes_duplicadas (topic)", ddl_upgrade_duplicates},
    {"table dead_letters (topic, tamanho, sha256)", ddl_upgrade_dead_letters},
    {"table batch_log (last_ts_ms, nota)", ddl_upgrade_batch_log},
    {"the indexes", ddl_indexes},
    {"view vw_performance_stats", ddl_view_stats},
    {"view vw_performance_temporal", ddl_view_temporal},
    {"function limpar_transacoes_antigas", ddl_function},
    {"the retention trigger on transacoes", ddl_trigger},
    {"the dashboard's aggregates", schema_dashboard_ddl},
};

/* The replay tables: not bankstream's stream state, so neither init nor
 * --force touches them. SET LOCAL quiets "already exists, skipping". */
const char schema_replay_ddl[] =
    "SET LOCAL client_min_messages = warning;\n"
    "CREATE TABLE IF NOT EXISTS replay_runs (\n"
    "    replay_id bigserial PRIMARY KEY,\n"
    "    descricao text NOT NULL,\n"
    "    started_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS replay_resultados (\n"
    "    replay_id bigint NOT NULL REFERENCES replay_runs,\n"
    "    id_transacao uuid NOT NULL,\n"
    "    batch_id bigint NOT NULL,\n"
    "    status varchar(14),\n"
    "    motivo varchar(24),\n"
    "    transacao_aprovada bool,\n"
    "    t5_score float,\n"
    "    t6_score float,\n"
    "    t7_score float\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS idx_replay_resultados_run ON replay_resultados (replay_id);\n";

const char schema_drop_ddl[] = SCHEMA_LOCK
    "DROP FUNCTION IF EXISTS limpar_transacoes_antigas(integer) CASCADE;\n"
    "DROP VIEW IF EXISTS vw_performance_temporal, vw_performance_stats CASCADE;\n"
    "DROP TABLE IF EXISTS transacoes_ids_expurgados, saldos_expurgados, bankstream_meta,\n"
    "    dead_letters, batch_log, transacoes_duplicadas, transacoes_scores, transacoes,\n"
    "    usuarios, regioes CASCADE;\n"
    "DROP FUNCTION IF EXISTS bankstream_expurgo() CASCADE;\n";

const char *const schema_tables[] = {
    "regioes",
    "usuarios",
    "transacoes",
    "transacoes_scores",
    "transacoes_duplicadas",
    "batch_log",
    "dead_letters",
    "bankstream_meta",
    "saldos_expurgados",
    "transacoes_ids_expurgados",
    NULL,
};

/* Columns of each table as format_type() spells them (design 4), and how
 * many leading ones a table must have to be upgraded in place: the
 * original system's (its four tables) or version 1's (bankstream's). */
static const struct {
    const char *table;
    const char *columns;
    int min_columns;
} schema_checks[] = {
    {"regioes",
     "id_regiao character varying(2), latitude double precision, longitude double "
     "precision, media_transacional_mensal numeric(15,2), num_fraudes_ult_30d integer",
     5},
    {"usuarios",
     "id_usuario uuid, id_regiao character varying(2), saldo numeric(15,2), "
     "limite_pix numeric(15,2), limite_ted numeric(15,2), limite_doc "
     "numeric(15,2), limite_boleto numeric(15,2), created_at timestamp without "
     "time zone",
     8},
    {"transacoes",
     "id_transacao uuid, id_usuario_pagador uuid, id_usuario_recebedor uuid, id_regiao "
     "character varying(2), modalidade_pagamento character varying(6), data_horario timestamp "
     "without time zone, valor_transacao numeric(15,2), transacao_aprovada boolean, "
     "tempo_saida_resultado timestamp without time zone, tempo_entrada_kafka timestamp without "
     "time zone, tempo_inicio_processamento timestamp without time zone, latencia_total_ms "
     "bigint, tempo_processamento_ms bigint, created_at timestamp without time zone, status "
     "character varying(14), motivo character varying(24), batch_id bigint, kafka_particao "
     "integer, kafka_offset bigint",
     14},
    {"transacoes_scores",
     "id_transacao uuid, t5_score double precision, t6_score double "
     "precision, t7_score double precision",
     4},
    {"transacoes_duplicadas",
     "id_transacao uuid, batch_id bigint, kafka_particao integer, "
     "kafka_offset bigint, tempo_entrada_kafka timestamp without time "
     "zone, payload bytea, created_at timestamp without time zone, topic text",
     7},
    {"batch_log",
     "batch_id bigint, topic text, end_offsets bigint[], start_offsets bigint[], "
     "n_mensagens integer, n_aprovadas integer, n_rejeitadas integer, "
     "n_nao_processadas integer, n_dead_letters integer, ranks integer, "
     "committed_at timestamp with time zone, last_ts_ms bigint[], nota text",
     11},
    {"dead_letters",
     "id bigint, batch_id bigint, kafka_particao integer, kafka_offset bigint, "
     "tempo_entrada_kafka timestamp without time zone, payload bytea, erro "
     "text, created_at timestamp without time zone, topic text, tamanho bigint, sha256 text",
     8},
    {"bankstream_meta", "chave text, valor text", 2},
    {"saldos_expurgados",
     "id_usuario uuid, delta_centavos bigint, ultimo_aprovado timestamp without time zone", 3},
    {"transacoes_ids_expurgados", "id_transacao uuid", 1},
};

int schema_create(PGconn *conn, char *err, size_t errsize)
{
    for (size_t i = 0; i < sizeof schema_steps / sizeof schema_steps[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "creating %s", schema_steps[i].what);
        if (pgconn_exec(conn, schema_steps[i].sql, what, err, errsize) != 0) return -1;
    }
    return 0;
}

int schema_create_replay(PGconn *conn, char *err, size_t errsize)
{
    return pgconn_exec(conn, schema_replay_ddl, "creating the replay tables", err, errsize);
}

int schema_drop(PGconn *conn, char *err, size_t errsize)
{
    if (pgconn_exec(conn, schema_dashboard_drop_ddl, "dropping the dashboard's aggregates", err,
                    errsize) != 0)
        return -1;
    return pgconn_exec(conn, schema_drop_ddl, "dropping the bankstream schema", err, errsize);
}

/* Column lists are "name type, name type, ..." (types hold no ", "). The
 * number of leading columns a and b share, and how many each has. */
static int columns_common(const char *a, const char *b, int *na, int *nb)
{
    int common = 0, same = 1;
    *na = *nb = 0;
    while (*a || *b) {
        const char *ea = strstr(a, ", "), *eb = strstr(b, ", ");
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (*a) ++*na;
        if (*b) ++*nb;
        if (same && *a && *b && la == lb && memcmp(a, b, la) == 0)
            common++;
        else
            same = 0;
        a = *a ? (ea ? ea + 2 : a + la) : a;
        b = *b ? (eb ? eb + 2 : b + lb) : b;
    }
    return common;
}

/* The checks of schema_check (upgradable 0) and schema_check_upgradable (1). */
static int check_tables(PGconn *conn, int upgradable, char *err, size_t errsize)
{
    static const char table_sql[] =
        "SELECT c.relkind,"
        "       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),"
        "                          ', ' ORDER BY a.attnum)"
        "          FROM pg_attribute a"
        "         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)"
        "  FROM pg_class c WHERE c.oid = to_regclass($1)";
    int rc = -1;
    PGresult *res = NULL;
    for (size_t i = 0; i < sizeof schema_checks / sizeof schema_checks[0]; i++) {
        const char *t = schema_checks[i].table;
        const char *want = schema_checks[i].columns;
        res = PQexecParams(conn, table_sql, 1, NULL, &t, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(err, errsize, "cannot read the catalog: %s", PQerrorMessage(conn));
            goto done;
        }
        if (PQntuples(res) == 0) {
            PQclear(res);
            res = NULL;
            if (upgradable) continue; /* schema_create makes it */
            snprintf(err, errsize, "table %s is missing; run 'bankstream init'", t);
            goto done;
        }
        const char *kind = PQgetvalue(res, 0, 0);
        const char *have = PQgetvalue(res, 0, 1);
        if (strcmp(kind, "r") != 0) {
            snprintf(err, errsize,
                     "%s exists but is not a table; 'bankstream init' changes nothing: drop or "
                     "rename it, or use 'bankstream init --force'",
                     t);
            goto done;
        }
        int nhave, nwant, common = columns_common(have, want, &nhave, &nwant);
        int older = common == nhave && nhave >= schema_checks[i].min_columns; /* a prefix */
        if (common < nwant && upgradable && !older) {
            snprintf(err, errsize,
                     "table %s has another layout than the original system's or bankstream's "
                     "(its columns: %s); 'bankstream init' changes nothing: drop or rename it, "
                     "or use 'bankstream init --force' to drop bankstream's tables",
                     t, have);
            goto done;
        }
        if (common < nwant && !upgradable) {
            if (older)
                snprintf(err, errsize,
                         "table %s lacks the columns of bankstream's schema version %d (it has: "
                         "%s); run 'bankstream init' to upgrade the database (it keeps every row)",
                         t, SCHEMA_VERSION, have);
            else
                snprintf(err, errsize,
                         "table %s has another layout than bankstream's (expected columns: %s); "
                         "run 'bankstream init --force' to recreate it",
                         t, want);
            goto done;
        }
        PQclear(res);
        res = NULL;
    }
    rc = 0;
done:
    if (rc != 0) {
        char *nl = strchr(err, '\n');
        if (nl) *nl = '\0';
    }
    PQclear(res);
    return rc;
}

int schema_check_upgradable(PGconn *conn, char *err, size_t errsize)
{
    return check_tables(conn, 1, err, errsize);
}

int schema_check(PGconn *conn, char *err, size_t errsize)
{
    static const char objects_sql[] =
        "SELECT to_regclass('vw_performance_stats') IS NOT NULL,"
        "       to_regclass('vw_performance_temporal') IS NOT NULL,"
        "       to_regprocedure('limpar_transacoes_antigas(integer)') IS NOT NULL,"
        "       EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('transacoes')"
        "                  AND tgname = 'transacoes_expurgo' AND tgenabled <> 'D')";
    if (check_tables(conn, 0, err, errsize) != 0) return -1;
    PGresult *res = PQexec(conn, objects_sql);
    int rc = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsize, "cannot read the catalog: %s", PQerrorMessage(conn));
        goto done;
    }
    static const char *const names[] = {
        "view vw_performance_stats", "view vw_performance_temporal",
        "function limpar_transacoes_antigas(integer)",
        "trigger transacoes_expurgo on transacoes (retention keeps the ledger with it)"};
    for (int k = 0; k < 4; k++) {
        if (strcmp(PQgetvalue(res, 0, k), "t") != 0) {
            snprintf(err, errsize, "%s is missing or disabled; run 'bankstream init'", names[k]);
            goto done;
        }
    }
    rc = 0;
done:
    if (rc != 0) {
        char *nl = strchr(err, '\n');
        if (nl) *nl = '\0';
    }
    PQclear(res);
    return rc;
}
