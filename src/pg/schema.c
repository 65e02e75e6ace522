/* schema.c - the DDL of database `bank` and the checks that it is in place.
 *
 * Design:
 *   1. Names and columns of the original tables are a contract with external
 *      readers (SYSTEM.md): never rename or reorder them; bankstream's columns
 *      come after the original ones.
 *   2. The DDL is idempotent, so every command may run it; schema_check()
 *      catches a same-named table of another layout (for example the original
 *      system's transacoes) instead of failing later in a COPY.
 *   3. schema_checks below mirrors the CREATE TABLEs: keep them in step. */
#include "pg/schema.h"
#include "pg/pgconn.h"

#include <stdio.h>
#include <string.h>

#define SCHEMA_STR_(x) #x
#define SCHEMA_STR(x)  SCHEMA_STR_(x)
#define SCHEMA_LOCK    "SELECT pg_advisory_xact_lock(" SCHEMA_STR(SCHEMA_LOCK_KEY) ");\n"

const char schema_lock_sql[] = "SELECT pg_advisory_xact_lock(" SCHEMA_STR(SCHEMA_LOCK_KEY) ")";

const char schema_ddl[] = SCHEMA_LOCK
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
    "    -- bankstream: 'aprovada' | 'rejeitada' | 'nao_processada'\n"
    "    status varchar(14) NOT NULL,\n"
    "    -- NULL when approved; rejected: saldo_insuficiente, limite_excedido, risco,\n"
    "    -- pagador_desconhecido, recebedor_desconhecido; not processed: atrasada,\n"
    "    -- anterior_a_ultima\n"
    "    motivo varchar(24),\n"
    "    batch_id bigint NOT NULL,\n"
    "    kafka_particao int NOT NULL,\n"
    "    kafka_offset bigint NOT NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS idx_transacoes_data_horario ON transacoes (data_horario);\n"
    "CREATE INDEX IF NOT EXISTS idx_transacoes_latencia_total_ms ON transacoes "
    "(latencia_total_ms);\n"
    "CREATE INDEX IF NOT EXISTS idx_transacoes_transacao_aprovada ON transacoes "
    "(transacao_aprovada);\n"
    "CREATE INDEX IF NOT EXISTS idx_transacoes_modalidade_pagamento ON transacoes "
    "(modalidade_pagamento);\n"
    "CREATE INDEX IF NOT EXISTS idx_transacoes_batch_id ON transacoes (batch_id);\n"
    "CREATE TABLE IF NOT EXISTS transacoes_scores (\n"
    "    id_transacao uuid,\n"
    "    t5_score float,\n"
    "    t6_score float,\n"
    "    t7_score float\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS idx_transacoes_scores_id_transacao ON transacoes_scores "
    "(id_transacao);\n"
    "-- a transaction id seen before: not processed, never debited twice\n"
    "CREATE TABLE IF NOT EXISTS transacoes_duplicadas (\n"
    "    id_transacao uuid NOT NULL,\n"
    "    batch_id bigint NOT NULL,\n"
    "    kafka_particao int NOT NULL,\n"
    "    kafka_offset bigint NOT NULL,\n"
    "    tempo_entrada_kafka timestamp,\n"
    "    payload bytea,\n"
    "    created_at timestamp DEFAULT now(),\n"
    "    PRIMARY KEY (kafka_particao, kafka_offset)\n"
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
    "    committed_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS dead_letters (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    batch_id bigint NOT NULL,\n"
    "    kafka_particao int NOT NULL,\n"
    "    kafka_offset bigint NOT NULL,\n"
    "    tempo_entrada_kafka timestamp,\n"
    "    payload bytea NOT NULL,\n"
    "    erro text NOT NULL,\n"
    "    created_at timestamp DEFAULT now(),\n"
    "    UNIQUE (kafka_particao, kafka_offset)\n"
    ");\n"
    "-- schema_version, users, seed, initialized_at, database_id (new at every\n"
    "-- init: snapshots record it so that one database never restores another's)\n"
    "CREATE TABLE IF NOT EXISTS bankstream_meta (\n"
    "    chave text PRIMARY KEY,\n"
    "    valor text NOT NULL\n"
    ");\n"
    "CREATE OR REPLACE VIEW vw_performance_stats AS\n"
    "SELECT modalidade_pagamento,\n"
    "       count(*) AS total_transacoes,\n"
    "       avg(latencia_total_ms) AS latencia_media_ms,\n"
    "       min(latencia_total_ms) AS latencia_min_ms,\n"
    "       max(latencia_total_ms) AS latencia_max_ms,\n"
    "       percentile_cont(0.95) WITHIN GROUP (ORDER BY latencia_total_ms) AS "
    "latencia_p95_ms,\n"
    "       avg(tempo_processamento_ms) AS tempo_processamento_medio_ms\n"
    "  FROM transacoes\n"
    " WHERE latencia_total_ms IS NOT NULL\n"
    " GROUP BY modalidade_pagamento;\n"
    "CREATE OR REPLACE VIEW vw_performance_temporal AS\n"
    "SELECT date_trunc('hour', tempo_saida_resultado) AS hora,\n"
    "       count(*) AS total_transacoes,\n"
    "       avg(latencia_total_ms) AS latencia_media_ms\n"
    "  FROM transacoes\n"
    " WHERE latencia_total_ms IS NOT NULL\n"
    " GROUP BY date_trunc('hour', tempo_saida_resultado);\n"
    "CREATE OR REPLACE FUNCTION limpar_transacoes_antigas(dias integer DEFAULT 30)\n"
    "RETURNS integer LANGUAGE plpgsql AS $fn$\n"
    "DECLARE\n"
    "    n integer;\n"
    "BEGIN\n"
    "    DELETE FROM transacoes_scores s\n"
    "     USING transacoes t\n"
    "     WHERE s.id_transacao = t.id_transacao\n"
    "       AND t.data_horario < now() - make_interval(days => dias);\n"
    "    DELETE FROM transacoes WHERE data_horario < now() - make_interval(days => dias);\n"
    "    GET DIAGNOSTICS n = ROW_COUNT;\n"
    "    RETURN n;\n"
    "END\n"
    "$fn$;\n";

/* The dashboard's aggregates (bankstream dashboard, src/dashboard/): counts of
 * transacoes by the dimensions its panels filter and group on, kept exactly
 * consistent with the rows by statement-level triggers on transacoes, which
 * run inside the writer's transaction (for the stream: each batch's), whatever
 * writes: the sink's COPY, a purge, a migration, a TRUNCATE. Every count is
 * signed (a deleted row subtracts), rows at 0 are removed after deletes.
 * The tables are half-filled pages (fillfactor 50) so that a count's update
 * stays on its page (a HOT update, no index entry): a batch updates
 * thousands of them.
 * Dimensions: modalidade, hora = the hour of data_horario in America/Sao_Paulo
 * (the rules' zone), aprovada = coalesce(transacao_aprovada, false).
 * t5 is the rules' Euclidean distance in degrees between the capitals of the
 * transaction's region and the payer's home region (same operations as
 * engine/rules.c, so the same double), defined where the rules compute it:
 * payer known and the row not decided before the risk step; dist_km the
 * great-circle distance between the same two capitals. */
const char schema_dashboard_ddl[] =
    "SET LOCAL client_min_messages = warning;\n"
    "CREATE TABLE IF NOT EXISTS dashboard_resumo (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,          -- 0..23, -1 without data_horario\n"
    "    aprovada bool NOT NULL,\n"
    "    status varchar(14) NOT NULL,\n"
    "    motivo varchar(24) NOT NULL,     -- '' when none\n"
    "    id_regiao varchar(2) NOT NULL,\n"
    "    faixa_dist smallint NOT NULL,    -- 0 <50 km, 1 50-300, 2 300-1000, 3 >=1000, -1 unknown\n"
    "    n bigint NOT NULL,\n"
    "    soma_valor numeric NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, status, motivo, id_regiao, faixa_dist)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_valor (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,\n"
    "    aprovada bool NOT NULL,\n"
    "    balde int NOT NULL,              -- floor(valor / 10), at most 1,000,000\n"
    "    n bigint NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, balde)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_t5 (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,\n"
    "    aprovada bool NOT NULL,\n"
    "    faixa_valor smallint NOT NULL,   -- (0,500] (500,1000] ... (10000,inf): 0..5\n"
    "    t5 float8 NOT NULL,\n"
    "    n bigint NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, faixa_valor, t5)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_calor (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,\n"
    "    aprovada bool NOT NULL,\n"
    "    bx smallint NOT NULL,            -- least(floor(valor / 250), 29)\n"
    "    by smallint NOT NULL,            -- least(floor(t5 / 1.2), 29)\n"
    "    n bigint NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, bx, by)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_temporal (\n"
    "    hora timestamp PRIMARY KEY,      -- date_trunc('hour', tempo_saida_resultado)\n"
    "    n bigint NOT NULL,\n"
    "    n_latencia bigint NOT NULL,\n"
    "    soma_latencia_ms numeric NOT NULL\n"
    ") WITH (fillfactor = 50);\n"
    /* Every pair of regions (27 x 27 rows, computed when read): the rules'
     * t5 and the distance band between the two capitals, so that a batch's
     * rows join it instead of computing both per row. */
    "CREATE OR REPLACE VIEW dashboard_pares AS\n"
    "SELECT id_regiao, id_regiao_pagador, t5,\n"
    "       (CASE WHEN km < 50 THEN 0 WHEN km < 300 THEN 1 WHEN km < 1000 THEN 2 ELSE 3 END)\n"
    "           ::smallint AS faixa_dist\n"
    "  FROM (SELECT r.id_regiao, p.id_regiao AS id_regiao_pagador,\n"
    "               sqrt((r.latitude - p.latitude) * (r.latitude - p.latitude)\n"
    "                    + (r.longitude - p.longitude) * (r.longitude - p.longitude)) AS t5,\n"
    "               2 * 6371.0 * asin(least(1, sqrt(sin(radians(r.latitude - p.latitude) / 2) ^ 2\n"
    "                   + cos(radians(r.latitude)) * cos(radians(p.latitude))\n"
    "                   * sin(radians(r.longitude - p.longitude) / 2) ^ 2))) AS km\n"
    "          FROM regioes r CROSS JOIN regioes p) x;\n"
    /* The statement that adds (sinal 1) or subtracts (-1) the rows of the
     * relation fonte: one statement, the enriched rows computed once. */
    "CREATE OR REPLACE FUNCTION dashboard_sql(fonte text, sinal int) RETURNS text\n"
    "LANGUAGE sql IMMUTABLE AS $fn$ SELECT format($q$\n"
    "WITH e AS MATERIALIZED (\n"
    "  SELECT coalesce(t.modalidade_pagamento, '') AS modalidade,\n"
    "         coalesce(extract(hour FROM (t.data_horario AT TIME ZONE 'UTC')\n"
    "                  AT TIME ZONE 'America/Sao_Paulo')::int, -1)::smallint AS hora,\n"
    "         coalesce(t.transacao_aprovada, false) AS aprovada, t.status,\n"
    "         coalesce(t.motivo, '') AS motivo, coalesce(t.id_regiao, '') AS id_regiao,\n"
    "         coalesce(t.valor_transacao, 0) AS valor, t.tempo_saida_resultado,\n"
    "         t.latencia_total_ms,\n"
    "         CASE WHEN t.status NOT IN ('rejeitada', 'nao_processada')\n"
    "                   OR t.motivo IN ('saldo_insuficiente', 'limite_excedido', 'risco')\n"
    "              THEN p.t5 END AS t5,\n"
    "         coalesce(p.faixa_dist, -1)::smallint AS faixa_dist\n"
    "    FROM %1$s t\n"
    "    LEFT JOIN usuarios u ON u.id_usuario = t.id_usuario_pagador\n"
    "    LEFT JOIN dashboard_pares p ON p.id_regiao = t.id_regiao\n"
    "                               AND p.id_regiao_pagador = u.id_regiao),\n"
    "a AS (INSERT INTO dashboard_resumo AS x\n"
    "      SELECT modalidade, hora, aprovada, status, motivo, id_regiao, faixa_dist,\n"
    "             %2$s * count(*), %2$s * sum(valor) FROM e GROUP BY 1, 2, 3, 4, 5, 6, 7\n"
    "       ORDER BY 1, 2, 3, 4, 5, 6, 7\n"
    "      ON CONFLICT (modalidade, hora, aprovada, status, motivo, id_regiao, faixa_dist)\n"
    "      DO UPDATE SET n = x.n + EXCLUDED.n, soma_valor = x.soma_valor + EXCLUDED.soma_valor),\n"
    "b AS (INSERT INTO dashboard_valor AS x\n"
    "      SELECT modalidade, hora, aprovada, least(floor(valor / 10), 1000000)::int,\n"
    "             %2$s * count(*) FROM e GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n"
    "      ON CONFLICT (modalidade, hora, aprovada, balde) DO UPDATE SET n = x.n + EXCLUDED.n),\n"
    "c AS (INSERT INTO dashboard_t5 AS x\n"
    "      SELECT modalidade, hora, aprovada,\n"
    "             CASE WHEN valor <= 500 THEN 0 WHEN valor <= 1000 THEN 1\n"
    "                  WHEN valor <= 2500 THEN 2 WHEN valor <= 5000 THEN 3\n"
    "                  WHEN valor <= 10000 THEN 4 ELSE 5 END,\n"
    "             t5, %2$s * count(*) FROM e WHERE t5 IS NOT NULL\n"
    "       GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5\n"
    "      ON CONFLICT (modalidade, hora, aprovada, faixa_valor, t5)\n"
    "      DO UPDATE SET n = x.n + EXCLUDED.n),\n"
    "d AS (INSERT INTO dashboard_calor AS x\n"
    "      SELECT modalidade, hora, aprovada, least(floor(valor / 250), 29)::smallint,\n"
    "             least(floor(t5 / 1.2), 29)::smallint, %2$s * count(*) FROM e\n"
    "       WHERE t5 IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5\n"
    "      ON CONFLICT (modalidade, hora, aprovada, bx, by) DO UPDATE SET n = x.n + EXCLUDED.n),\n"
    "f AS (INSERT INTO dashboard_temporal AS x\n"
    "      SELECT date_trunc('hour', tempo_saida_resultado), %2$s * count(*),\n"
    "             %2$s * count(latencia_total_ms), %2$s * coalesce(sum(latencia_total_ms), 0)\n"
    "        FROM e WHERE tempo_saida_resultado IS NOT NULL GROUP BY 1 ORDER BY 1\n"
    "      ON CONFLICT (hora) DO UPDATE SET n = x.n + EXCLUDED.n,\n"
    "         n_latencia = x.n_latencia + EXCLUDED.n_latencia,\n"
    "         soma_latencia_ms = x.soma_latencia_ms + EXCLUDED.soma_latencia_ms)\n"
    "SELECT 1\n"
    "$q$, fonte, sinal) $fn$;\n"
    "CREATE OR REPLACE FUNCTION dashboard_limpar_zeros() RETURNS void LANGUAGE sql AS $fn$\n"
    "    DELETE FROM dashboard_resumo WHERE n = 0;\n"
    "    DELETE FROM dashboard_valor WHERE n = 0;\n"
    "    DELETE FROM dashboard_t5 WHERE n = 0;\n"
    "    DELETE FROM dashboard_calor WHERE n = 0;\n"
    "    DELETE FROM dashboard_temporal WHERE n = 0;\n"
    "$fn$;\n"
    /* The trigger function: runs the statement itself, since only the
     * function a trigger calls sees its transition tables. */
    "CREATE OR REPLACE FUNCTION dashboard_agregar() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
    "BEGIN\n"
    "    IF TG_OP = 'TRUNCATE' THEN\n"
    "        TRUNCATE dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor,\n"
    "                 dashboard_temporal;\n"
    "        RETURN NULL;\n"
    "    END IF;\n"
    "    IF TG_OP IN ('DELETE', 'UPDATE') THEN\n"
    "        EXECUTE dashboard_sql('antigas', -1);\n"
    "    END IF;\n"
    "    IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
    "        EXECUTE dashboard_sql('novas', 1);\n"
    "    END IF;\n"
    "    IF TG_OP IN ('DELETE', 'UPDATE') THEN\n"
    "        PERFORM dashboard_limpar_zeros();\n"
    "    END IF;\n"
    "    RETURN NULL;\n"
    "END\n"
    "$fn$;\n"
    /* Recount everything from transacoes (the first creation, or a repair). */
    "CREATE OR REPLACE FUNCTION dashboard_reconstruir() RETURNS bigint LANGUAGE plpgsql AS $fn$\n"
    "BEGIN\n"
    "    TRUNCATE dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor,\n"
    "             dashboard_temporal;\n"
    "    EXECUTE dashboard_sql('transacoes', 1);\n"
    "    RETURN (SELECT coalesce(sum(n), 0) FROM dashboard_resumo);\n"
    "END\n"
    "$fn$;\n"
    "DROP TRIGGER IF EXISTS dashboard_ins ON transacoes;\n"
    "DROP TRIGGER IF EXISTS dashboard_del ON transacoes;\n"
    "DROP TRIGGER IF EXISTS dashboard_upd ON transacoes;\n"
    "DROP TRIGGER IF EXISTS dashboard_trunc ON transacoes;\n"
    "CREATE TRIGGER dashboard_ins AFTER INSERT ON transacoes REFERENCING NEW TABLE AS novas\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    "CREATE TRIGGER dashboard_del AFTER DELETE ON transacoes REFERENCING OLD TABLE AS antigas\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    "CREATE TRIGGER dashboard_upd AFTER UPDATE ON transacoes\n"
    "    REFERENCING OLD TABLE AS antigas NEW TABLE AS novas\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    "CREATE TRIGGER dashboard_trunc AFTER TRUNCATE ON transacoes\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    /* Rows that were there before the aggregates (an older schema): the
     * aggregates are empty while transacoes is not; counted once. */
    "DO $do$ BEGIN\n"
    "    IF NOT EXISTS (SELECT 1 FROM dashboard_resumo) AND EXISTS (SELECT 1 FROM transacoes) "
    "THEN\n"
    "        PERFORM dashboard_reconstruir();\n"
    "    END IF;\n"
    "END $do$;\n";

const char schema_dashboard_drop_ddl[] =
    "DROP VIEW IF EXISTS dashboard_pares CASCADE;\n"
    "DROP TABLE IF EXISTS dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor,\n"
    "    dashboard_temporal CASCADE;\n"
    "DROP FUNCTION IF EXISTS dashboard_agregar() CASCADE;\n"
    "DROP FUNCTION IF EXISTS dashboard_reconstruir(), dashboard_limpar_zeros(),\n"
    "    dashboard_sql(text, int);\n";

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
    "DROP TABLE IF EXISTS bankstream_meta, dead_letters, batch_log, transacoes_duplicadas,\n"
    "    transacoes_scores, transacoes, usuarios, regioes CASCADE;\n";

const char *const schema_tables[] = {
    "regioes",
    "usuarios",
    "transacoes",
    "transacoes_scores",
    "transacoes_duplicadas",
    "batch_log",
    "dead_letters",
    "bankstream_meta",
    NULL,
};

/* Leading columns of each table as format_type() spells them (design 3). */
static const struct {
    const char *table;
    const char *columns;
} schema_checks[] = {
    {"regioes", "id_regiao character varying(2), latitude double precision, longitude double "
                "precision, media_transacional_mensal numeric(15,2), num_fraudes_ult_30d "
                "integer"},
    {"usuarios", "id_usuario uuid, id_regiao character varying(2), saldo numeric(15,2), "
                 "limite_pix numeric(15,2), limite_ted numeric(15,2), limite_doc "
                 "numeric(15,2), limite_boleto numeric(15,2), created_at timestamp without "
                 "time zone"},
    {"transacoes",
     "id_transacao uuid, id_usuario_pagador uuid, id_usuario_recebedor uuid, id_regiao "
     "character varying(2), modalidade_pagamento character varying(6), data_horario timestamp "
     "without time zone, valor_transacao numeric(15,2), transacao_aprovada boolean, "
     "tempo_saida_resultado timestamp without time zone, tempo_entrada_kafka timestamp without "
     "time zone, tempo_inicio_processamento timestamp without time zone, latencia_total_ms "
     "bigint, tempo_processamento_ms bigint, created_at timestamp without time zone, status "
     "character varying(14), motivo character varying(24), batch_id bigint, kafka_particao "
     "integer, kafka_offset bigint"},
    {"transacoes_scores", "id_transacao uuid, t5_score double precision, t6_score double "
                          "precision, t7_score double precision"},
    {"transacoes_duplicadas", "id_transacao uuid, batch_id bigint, kafka_particao integer, "
                              "kafka_offset bigint, tempo_entrada_kafka timestamp without time "
                              "zone, payload bytea, created_at timestamp without time zone"},
    {"batch_log", "batch_id bigint, topic text, end_offsets bigint[], start_offsets bigint[], "
                  "n_mensagens integer, n_aprovadas integer, n_rejeitadas integer, "
                  "n_nao_processadas integer, n_dead_letters integer, ranks integer, "
                  "committed_at timestamp with time zone"},
    {"dead_letters", "id bigint, batch_id bigint, kafka_particao integer, kafka_offset bigint, "
                     "tempo_entrada_kafka timestamp without time zone, payload bytea, erro "
                     "text, created_at timestamp without time zone"},
    {"bankstream_meta", "chave text, valor text"},
};

int schema_create(PGconn *conn, char *err, size_t errsize)
{
    if (pgconn_exec(conn, schema_ddl, "creating the bankstream schema", err, errsize) != 0)
        return -1;
    return pgconn_exec(conn, schema_dashboard_ddl, "creating the dashboard's aggregates", err,
                       errsize);
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

int schema_check(PGconn *conn, char *err, size_t errsize)
{
    static const char table_sql[] =
        "SELECT c.relkind,"
        "       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),"
        "                          ', ' ORDER BY a.attnum)"
        "          FROM pg_attribute a"
        "         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)"
        "  FROM pg_class c WHERE c.oid = to_regclass($1)";
    static const char objects_sql[] =
        "SELECT to_regclass('vw_performance_stats') IS NOT NULL,"
        "       to_regclass('vw_performance_temporal') IS NOT NULL,"
        "       to_regprocedure('limpar_transacoes_antigas(integer)') IS NOT NULL";
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
            snprintf(err, errsize, "table %s is missing; run 'bankstream init'", t);
            goto done;
        }
        const char *kind = PQgetvalue(res, 0, 0);
        const char *have = PQgetvalue(res, 0, 1);
        if (strcmp(kind, "r") != 0) {
            snprintf(err, errsize,
                     "%s exists but is not a table; drop it or run 'bankstream init --force'", t);
            goto done;
        }
        size_t n = strlen(want);
        if (strncmp(have, want, n) != 0 || (have[n] != '\0' && have[n] != ',')) {
            snprintf(err, errsize,
                     "table %s has another layout than bankstream's (expected columns: %s); "
                     "run 'bankstream init --force' to recreate it",
                     t, want);
            goto done;
        }
        PQclear(res);
        res = NULL;
    }
    res = PQexec(conn, objects_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsize, "cannot read the catalog: %s", PQerrorMessage(conn));
        goto done;
    }
    static const char *const names[] = {"view vw_performance_stats", "view vw_performance_temporal",
                                        "function limpar_transacoes_antigas(integer)"};
    for (int k = 0; k < 3; k++) {
        if (strcmp(PQgetvalue(res, 0, k), "t") != 0) {
            snprintf(err, errsize, "%s is missing; run 'bankstream init'", names[k]);
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
