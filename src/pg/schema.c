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
    return pgconn_exec(conn, schema_ddl, "creating the bankstream schema", err, errsize);
}

int schema_create_replay(PGconn *conn, char *err, size_t errsize)
{
    return pgconn_exec(conn, schema_replay_ddl, "creating the replay tables", err, errsize);
}

int schema_drop(PGconn *conn, char *err, size_t errsize)
{
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
