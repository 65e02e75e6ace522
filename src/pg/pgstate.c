/* pgstate.c - the state reads of the processor (see pgstate.h).
 *
 * Small answers come from parameterized SELECTs; row streams from
 * COPY (SELECT ...) TO STDOUT in text format, one line per row, parsed
 * here into the engine's fixed-size records (copy_out, split_tabs). */
#include "pg/pgstate.h"
#include "base/ids.h"
#include "base/money.h"
#include "base/regions.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "12,0,7" (array_to_string of an offsets array) into offsets[], *n. */
static void parse_offsets(const char *p, int64_t *offsets, int max, int *n)
{
    *n = 0;
    while (*p && *n < max) {
        char *end;
        offsets[(*n)++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
}

int pgstate_last_batch(PGconn *conn, const char *topic, int64_t *batch_id, int64_t *end_offsets,
                       int max_parts, int *nparts, char *errstr, size_t errsize)
{
    /* Batch ids are global to the database; offsets belong to the topic. */
    const char *params[1] = {topic};
    PGresult *r = PQexecParams(conn,
                               "SELECT (SELECT coalesce(max(batch_id), 0) FROM batch_log),"
                               " (SELECT array_to_string(end_offsets, ',') FROM batch_log"
                               "  WHERE topic = $1 ORDER BY batch_id DESC LIMIT 1)",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsize, "reading batch_log: %s(run 'bankstream init' first?)",
                 PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < max_parts; i++)
        end_offsets[i] = -1;
    *batch_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    parse_offsets(PQgetvalue(r, 0, 1), end_offsets, max_parts, nparts);
    PQclear(r);
    return 0;
}

int pgstate_database_id(PGconn *conn, char *out, size_t outsize, char *errstr, size_t errsize)
{
    PGresult *r = PQexec(conn, "SELECT coalesce((SELECT valor FROM bankstream_meta"
                               " WHERE chave = 'database_id'), (SELECT valor FROM"
                               " bankstream_meta WHERE chave = 'initialized_at'), '')");
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc == 0)
        snprintf(out, outsize, "%s", PQgetvalue(r, 0, 0));
    else
        snprintf(errstr, errsize, "reading bankstream_meta: %s", PQerrorMessage(conn));
    PQclear(r);
    return rc;
}

int pgstate_batch_offsets(PGconn *conn, const char *topic, int64_t batch_id, int64_t *end_offsets,
                          int max_parts, int *nparts, char *errstr, size_t errsize)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, batch_id);
    const char *params[2] = {id, topic};
    PGresult *r = PQexecParams(conn,
                               "SELECT array_to_string(end_offsets, ',') FROM batch_log"
                               " WHERE batch_id = $1 AND topic = $2",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsize, "reading batch_log: %s", PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    int found = PQntuples(r) == 1;
    *nparts = 0;
    if (found) parse_offsets(PQgetvalue(r, 0, 0), end_offsets, max_parts, nparts);
    PQclear(r);
    return found ? 0 : 1;
}

int pgstate_purged_batch(PGconn *conn, int64_t *batch_id, char *errstr, size_t errsize)
{
    PGresult *r = PQexec(conn, "SELECT coalesce((SELECT valor FROM bankstream_meta"
                               " WHERE chave = 'expurgado_ate_batch'), '0')");
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc == 0)
        *batch_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        snprintf(errstr, errsize, "reading bankstream_meta: %s", PQerrorMessage(conn));
    PQclear(r);
    return rc;
}

int pgstate_last_ts(PGconn *conn, const char *topic, int64_t *batch_id, int64_t *last_ts_ms,
                    int max_parts, int *nparts, char *errstr, size_t errsize)
{
    const char *params[1] = {topic};
    /* per partition, the newest batch that took something from it */
    PGresult *r = PQexecParams(
        conn,
        "SELECT (SELECT coalesce(max(batch_id), 0) FROM batch_log WHERE topic = $1"
        "        AND last_ts_ms IS NOT NULL),"
        " (SELECT array_to_string(array_agg(coalesce(ts, -1) ORDER BY p), ',') FROM"
        "  (SELECT p, (SELECT b.last_ts_ms[p] FROM batch_log b WHERE b.topic = $1"
        "              AND b.last_ts_ms[p] >= 0 ORDER BY b.batch_id DESC LIMIT 1) AS ts"
        "   FROM generate_series(1, (SELECT coalesce(max(array_length(last_ts_ms, 1)), 0)"
        "                            FROM batch_log WHERE topic = $1)) AS p) AS x)",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsize, "reading batch_log: %s", PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < max_parts; i++)
        last_ts_ms[i] = -1;
    *nparts = 0;
    *batch_id = 0;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
        *batch_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        parse_offsets(PQgetvalue(r, 0, 1), last_ts_ms, max_parts, nparts);
    }
    PQclear(r);
    return 0;
}

/* Run COPY ... TO STDOUT (text) and hand each line to `line`. */
static int copy_out(PGconn *conn, const char *sql, int (*line)(void *ctx, char *text), void *ctx,
                    char *errstr, size_t errsize)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        snprintf(errstr, errsize, "%s", PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    char *buf;
    int n, rc = 0;
    while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
        if (rc == 0) {
            if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
            rc = line(ctx, buf);
            if (rc != 0) snprintf(errstr, errsize, "bad row from database: %.200s", buf);
        }
        PQfreemem(buf);
    }
    if (n == -2) {
        snprintf(errstr, errsize, "%s", PQerrorMessage(conn));
        rc = -1;
    }
    while ((r = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            snprintf(errstr, errsize, "%s", PQerrorMessage(conn));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* Split a COPY text line at tabs into at most max fields (in place). */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    return n;
}

struct user_cb {
    int (*each)(void *, const user_state_t *);
    void *ctx;
};

static int user_line(void *ctx, char *text)
{
    struct user_cb *c = ctx;
    char *f[7];
    user_state_t u;
    memset(&u, 0, sizeof u);
    if (split_tabs(text, f, 7) != 7 || ids_parse(f[0], strlen(f[0]), u.id) != 0) return -1;
    int region = region_index(f[1], strlen(f[1]));
    if (region < 0 || money_parse(f[2], &u.balance_cents) != 0) return -1;
    for (int m = 0; m < MOD_COUNT; m++)
        if (money_parse(f[3 + m], &u.limit_cents[m]) != 0) return -1;
    u.region = (uint8_t)region;
    u.last_approved_us = INT64_MIN;
    return c->each(c->ctx, &u);
}

int pgstate_each_user(PGconn *conn, int (*each)(void *ctx, const user_state_t *u), void *ctx,
                      char *errstr, size_t errsize)
{
    struct user_cb c = {each, ctx};
    return copy_out(conn,
                    "COPY (SELECT id_usuario, id_regiao, coalesce(saldo, 0), coalesce(limite_pix, "
                    "0), coalesce(limite_ted, 0), coalesce(limite_doc, 0), coalesce(limite_boleto, "
                    "0) FROM usuarios) TO STDOUT",
                    user_line, &c, errstr, errsize);
}

struct delta_cb {
    int (*each)(void *, const ledger_delta_t *);
    void *ctx;
};

static int delta_line(void *ctx, char *text)
{
    struct delta_cb *c = ctx;
    char *f[3];
    ledger_delta_t d;
    if (split_tabs(text, f, 3) != 3 || ids_parse(f[0], strlen(f[0]), d.id) != 0) return -1;
    d.delta_cents = strtoll(f[1], NULL, 10);
    d.last_approved_us = strcmp(f[2], "\\N") == 0 ? INT64_MIN : strtoll(f[2], NULL, 10);
    return c->each(c->ctx, &d);
}

int pgstate_each_ledger_delta(PGconn *conn, int64_t after_batch,
                              int (*each)(void *ctx, const ledger_delta_t *d), void *ctx,
                              char *errstr, size_t errsize)
{
    struct delta_cb c = {each, ctx};
    int64_t purged = 0;
    if (after_batch > 0) {
        if (pgstate_purged_batch(conn, &purged, errstr, errsize) != 0) return -1;
        if (after_batch < purged) {
            snprintf(errstr, errsize,
                     "the ledger after batch %" PRId64 " is incomplete: retention deleted the "
                     "rows of batches up to %" PRId64,
                     after_batch, purged);
            return -1;
        }
    }
    /* From batch 0 the deleted rows count through what retention carried. */
    char sql[1400];
    snprintf(
        sql, sizeof sql,
        "COPY (SELECT u, sum(d)::bigint, (extract(epoch FROM max(t)) * 1000000)::bigint FROM ("
        " SELECT id_usuario_pagador AS u, -(valor_transacao * 100)::bigint AS d, data_horario AS t"
        " FROM transacoes WHERE status = 'aprovada' AND batch_id > %" PRId64
        " UNION ALL SELECT id_usuario_recebedor, (valor_transacao * 100)::bigint, NULL"
        " FROM transacoes WHERE status = 'aprovada' AND batch_id > %" PRId64
        " UNION ALL SELECT id_usuario, delta_centavos, ultimo_aprovado FROM saldos_expurgados"
        " WHERE %s) AS x GROUP BY u) TO STDOUT",
        after_batch, after_batch, after_batch == 0 ? "true" : "false");
    return copy_out(conn, sql, delta_line, &c, errstr, errsize);
}

struct id_cb {
    int (*each)(void *, const uint8_t *);
    void *ctx;
};

static int id_line(void *ctx, char *text)
{
    struct id_cb *c = ctx;
    uint8_t id[16];
    if (ids_parse(text, strlen(text), id) != 0) return -1;
    return c->each(c->ctx, id);
}

int pgstate_each_seen_id(PGconn *conn, int (*each)(void *ctx, const uint8_t id[16]), void *ctx,
                         char *errstr, size_t errsize)
{
    struct id_cb c = {each, ctx};
    return copy_out(conn,
                    "COPY (SELECT id_transacao FROM transacoes UNION ALL"
                    " SELECT id_transacao FROM transacoes_ids_expurgados) TO STDOUT",
                    id_line, &c, errstr, errsize);
}

int pgstate_ids_present(PGconn *conn, const uint8_t (*ids)[16], size_t n,
                        int (*each)(void *ctx, const uint8_t id[16]), void *ctx, char *errstr,
                        size_t errsize)
{
    if (n == 0) return 0;
    char *list = malloc(n * (IDS_TEXT_LEN + 1) + 3), *p = list;
    if (list == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return -1;
    }
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        ids_format(ids[i], p);
        p += IDS_TEXT_LEN;
    }
    *p++ = '}';
    *p = '\0';
    const char *params[1] = {list};
    PGresult *r = PQexecParams(conn,
                               "SELECT id_transacao FROM transacoes"
                               " WHERE id_transacao = ANY($1::uuid[]) UNION ALL"
                               " SELECT id_transacao FROM transacoes_ids_expurgados"
                               " WHERE id_transacao = ANY($1::uuid[])",
                               1, NULL, params, NULL, NULL, 0);
    free(list);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsize, "%s", PQerrorMessage(conn));
        rc = -1;
    }
    for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
        uint8_t id[16];
        const char *text = PQgetvalue(r, row, 0);
        if (ids_parse(text, strlen(text), id) != 0) {
            snprintf(errstr, errsize, "bad id from database: %.60s", text);
            rc = -1;
        } else if (each(ctx, id) != 0) {
            snprintf(errstr, errsize, "out of memory");
            rc = -1;
        }
    }
    PQclear(r);
    return rc;
}

struct record_cb {
    int (*each)(void *, const txn_record_t *);
    void *ctx;
};

static double score_of(const char *text)
{
    return strcmp(text, "\\N") == 0 ? NAN : strtod(text, NULL);
}

static int record_line(void *ctx, char *text)
{
    struct record_cb *c = ctx;
    char *f[16];
    txn_record_t r;
    memset(&r, 0, sizeof r);
    if (split_tabs(text, f, 16) != 16 || ids_parse(f[0], strlen(f[0]), r.txn.id) ||
        ids_parse(f[1], strlen(f[1]), r.txn.payer) || ids_parse(f[2], strlen(f[2]), r.txn.receiver))
        return -1;
    int region = region_index(f[3], strlen(f[3])), modality = modality_index(f[4], strlen(f[4]));
    int status = txn_status_index(f[11]);
    int reason = strcmp(f[12], "\\N") == 0 ? REASON_NONE : txn_reason_index(f[12]);
    if (region < 0 || modality < 0 || status < 0 || reason < 0) return -1;
    r.txn.region = (uint8_t)region;
    r.txn.modality = (uint8_t)modality;
    r.txn.time_us = strtoll(f[5], NULL, 10);
    r.txn.amount_cents = strtoll(f[6], NULL, 10);
    r.partition = (int32_t)strtol(f[7], NULL, 10);
    r.offset = strtoll(f[8], NULL, 10);
    r.kafka_ts_ms = strtoll(f[9], NULL, 10);
    r.batch_id = strtoll(f[10], NULL, 10);
    r.status = (uint8_t)status;
    r.reason = (uint8_t)reason;
    r.t5 = score_of(f[13]);
    r.t6 = score_of(f[14]);
    r.t7 = score_of(f[15]);
    return c->each(c->ctx, &r);
}

int pgstate_each_record(PGconn *conn, const char *topic, int64_t after_batch,
                        int (*each)(void *ctx, const txn_record_t *r), void *ctx, char *errstr,
                        size_t errsize)
{
    struct record_cb c = {each, ctx};
    char *lit = PQescapeLiteral(conn, topic, strlen(topic)), sql[2048];
    if (lit == NULL) {
        snprintf(errstr, errsize, "%s", PQerrorMessage(conn));
        return -1;
    }
    snprintf(sql, sizeof sql,
             "COPY (SELECT t.id_transacao, t.id_usuario_pagador, t.id_usuario_recebedor,"
             " t.id_regiao, t.modalidade_pagamento,"
             " (extract(epoch FROM t.data_horario) * 1000000)::bigint,"
             " (t.valor_transacao * 100)::bigint, t.kafka_particao, t.kafka_offset,"
             " (extract(epoch FROM t.tempo_entrada_kafka) * 1000)::bigint, t.batch_id, t.status,"
             " t.motivo, s.t5_score, s.t6_score, s.t7_score"
             " FROM transacoes t LEFT JOIN transacoes_scores s USING (id_transacao)"
             " WHERE t.batch_id > %" PRId64
             " AND t.batch_id IN (SELECT batch_id FROM batch_log WHERE topic = %s)"
             " ORDER BY t.batch_id, t.data_horario, t.tempo_entrada_kafka, t.kafka_particao,"
             " t.kafka_offset) TO STDOUT",
             after_batch, lit);
    PQfreemem(lit);
    return copy_out(conn, sql, record_line, &c, errstr, errsize);
}
