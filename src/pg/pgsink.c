/* pgsink.c - one-transaction batch commits (see pgsink.h); the recovery
 * reads are pgstate's, on the sink's connection and topic.
 *
 * Rows go in with binary COPY (pgcopy.c); the batch_log row with a
 * parameterized INSERT. Order inside the transaction:
 *   BEGIN -> COPY transacoes -> COPY transacoes_scores -> COPY
 *   transacoes_duplicadas -> COPY dead_letters -> INSERT batch_log -> COMMIT */
#include "pg/pgsink.h"
#include "base/log.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"
#include "pg/pgstate.h"
#include "base/regions.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pgsink {
    PGconn *conn;
    char conninfo[1024];
    char topic[256];
    int64_t retry_seconds;
    pgcopy_t copy;
};

pgsink_t *pgsink_open(const char *conninfo, int64_t retry_seconds, const char *topic, char *errstr,
                      size_t errsize)
{
    pgsink_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    snprintf(s->conninfo, sizeof s->conninfo, "%s", conninfo);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->retry_seconds = retry_seconds;
    s->conn = pgconn_open(conninfo, errstr, errsize);
    if (s->conn == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void pgsink_close(pgsink_t *s)
{
    if (s == NULL) return;
    if (s->conn) PQfinish(s->conn);
    pgcopy_free(&s->copy);
    free(s);
}

/* ---- recovery reads: pgstate on this sink's connection and topic ---- */

int pgsink_last_batch(pgsink_t *s, int64_t *batch_id, int64_t *end_offsets, int max_parts,
                      int *nparts, char *errstr, size_t errsize)
{
    return pgstate_last_batch(s->conn, s->topic, batch_id, end_offsets, max_parts, nparts, errstr,
                              errsize);
}

int pgsink_database_id(pgsink_t *s, char *out, size_t outsize, char *errstr, size_t errsize)
{
    return pgstate_database_id(s->conn, out, outsize, errstr, errsize);
}

int pgsink_batch_offsets(pgsink_t *s, int64_t batch_id, int64_t *end_offsets, int max_parts,
                         int *nparts, char *errstr, size_t errsize)
{
    return pgstate_batch_offsets(s->conn, s->topic, batch_id, end_offsets, max_parts, nparts,
                                 errstr, errsize);
}

int pgsink_each_user(pgsink_t *s, int (*each)(void *ctx, const user_state_t *u), void *ctx,
                     char *errstr, size_t errsize)
{
    return pgstate_each_user(s->conn, each, ctx, errstr, errsize);
}

int pgsink_each_ledger_delta(pgsink_t *s, int64_t after_batch,
                             int (*each)(void *ctx, const ledger_delta_t *d), void *ctx,
                             char *errstr, size_t errsize)
{
    return pgstate_each_ledger_delta(s->conn, after_batch, each, ctx, errstr, errsize);
}

int pgsink_each_seen_id(pgsink_t *s, int (*each)(void *ctx, const uint8_t id[16]), void *ctx,
                        char *errstr, size_t errsize)
{
    return pgstate_each_seen_id(s->conn, each, ctx, errstr, errsize);
}

int pgsink_each_archive_row(pgsink_t *s, int64_t after_batch,
                            int (*each)(void *ctx, const txn_record_t *row), void *ctx,
                            char *errstr, size_t errsize)
{
    return pgstate_each_record(s->conn, s->topic, after_batch, each, ctx, errstr, errsize);
}

/* ---- batch commit ---- */

static void build_transacoes(pgsink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    int64_t result_ms = b->result_us / 1000;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_TXN) continue;
        const txn_t *t = &r->txn;
        const char *mod = modality_names[t->modality];
        const char *status = txn_status_names[r->status];
        const char *reason = txn_reason_names[r->reason];
        pgcopy_row(c, 18);
        pgcopy_uuid(c, t->id);
        pgcopy_uuid(c, t->payer);
        pgcopy_uuid(c, t->receiver);
        pgcopy_text(c, region_table[t->region].code, 2);
        pgcopy_text(c, mod, strlen(mod));
        pgcopy_timestamp(c, t->time_us);
        pgcopy_numeric_cents(c, t->amount_cents);
        if (r->status == STATUS_NOT_PROCESSED)
            pgcopy_null(c);
        else
            pgcopy_bool(c, r->status == STATUS_APPROVED);
        pgcopy_timestamp(c, result_ms * 1000);
        pgcopy_timestamp(c, r->kafka_ts_ms * 1000);
        pgcopy_timestamp(c, b->start_us / 1000 * 1000);
        pgcopy_int8(c, result_ms - r->kafka_ts_ms);
        pgcopy_int8(c, result_ms - b->start_us / 1000);
        pgcopy_text(c, status, strlen(status));
        if (reason)
            pgcopy_text(c, reason, strlen(reason));
        else
            pgcopy_null(c);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->partition);
        pgcopy_int8(c, r->offset);
    }
    pgcopy_end(c);
}

static void build_scores(pgsink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_TXN || !r->has_scores) continue;
        pgcopy_row(c, 4);
        pgcopy_uuid(c, r->txn.id);
        pgcopy_float8(c, r->t5);
        pgcopy_float8(c, r->t6);
        pgcopy_float8(c, r->t7);
    }
    pgcopy_end(c);
}

static void build_duplicates(pgsink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_DUPLICATE) continue;
        pgcopy_row(c, 6);
        pgcopy_uuid(c, r->txn.id);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->partition);
        pgcopy_int8(c, r->offset);
        pgcopy_timestamp(c, r->kafka_ts_ms * 1000);
        pgcopy_bytea(c, b->arena + r->raw_off, r->raw_len);
    }
    pgcopy_end(c);
}

static void build_dead_letters(pgsink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_DEAD) continue;
        pgcopy_row(c, 6);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->partition);
        pgcopy_int8(c, r->offset);
        pgcopy_timestamp(c, r->kafka_ts_ms * 1000);
        pgcopy_bytea(c, b->arena + r->raw_off, r->raw_len);
        pgcopy_text(c, b->arena + r->err_off, r->err_len);
    }
    pgcopy_end(c);
}

static void format_offsets(const int64_t *offs, int n, char *out, size_t size)
{
    size_t len = (size_t)snprintf(out, size, "{");
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%" PRId64, i ? "," : "", offs[i]);
    if (len < size) snprintf(out + len, size - len, "}");
}

static int insert_batch_log(pgsink_t *s, const batch_t *b, char *errstr, size_t errsize)
{
    char id[24], starts[4096], ends[4096], n[6][16];
    snprintf(id, sizeof id, "%" PRId64, b->id);
    format_offsets(b->start_offsets, b->nparts, starts, sizeof starts);
    format_offsets(b->end_offsets, b->nparts, ends, sizeof ends);
    snprintf(n[0], 16, "%zu", b->nrows);
    snprintf(n[1], 16, "%d", b->n_approved);
    snprintf(n[2], 16, "%d", b->n_rejected);
    snprintf(n[3], 16, "%d", b->n_not_processed + b->n_duplicates);
    snprintf(n[4], 16, "%d", b->n_dead);
    snprintf(n[5], 16, "%d", b->ranks);
    const char *params[10] = {id, s->topic, ends, starts, n[0], n[1], n[2], n[3], n[4], n[5]};
    PGresult *r = PQexecParams(s->conn,
                               "INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets,"
                               " n_mensagens, n_aprovadas, n_rejeitadas, n_nao_processadas,"
                               " n_dead_letters, ranks) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                               " $9, $10)",
                               10, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc) snprintf(errstr, errsize, "%s", PQerrorMessage(s->conn));
    PQclear(r);
    return rc;
}

static int commit_once(pgsink_t *s, const batch_t *b, char *errstr, size_t errsize)
{
    if (pgconn_exec(s->conn, "BEGIN", NULL, errstr, errsize) != 0) return -1;
    build_transacoes(s, b);
    if (pgcopy_send(
            s->conn,
            "COPY transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor,"
            " id_regiao, modalidade_pagamento, data_horario, valor_transacao,"
            " transacao_aprovada, tempo_saida_resultado, tempo_entrada_kafka,"
            " tempo_inicio_processamento, latencia_total_ms, tempo_processamento_ms, status,"
            " motivo, batch_id, kafka_particao, kafka_offset) FROM STDIN (FORMAT binary)",
            &s->copy, errstr, errsize) != 0)
        goto fail;
    build_scores(s, b);
    if (pgcopy_send(s->conn,
                    "COPY transacoes_scores (id_transacao, t5_score, t6_score, t7_score)"
                    " FROM STDIN (FORMAT binary)",
                    &s->copy, errstr, errsize) != 0)
        goto fail;
    if (b->n_duplicates) {
        build_duplicates(s, b);
        if (pgcopy_send(s->conn,
                        "COPY transacoes_duplicadas (id_transacao, batch_id, kafka_particao,"
                        " kafka_offset, tempo_entrada_kafka, payload) FROM STDIN (FORMAT binary)",
                        &s->copy, errstr, errsize) != 0)
            goto fail;
    }
    if (b->n_dead) {
        build_dead_letters(s, b);
        if (pgcopy_send(s->conn,
                        "COPY dead_letters (batch_id, kafka_particao, kafka_offset,"
                        " tempo_entrada_kafka, payload, erro) FROM STDIN (FORMAT binary)",
                        &s->copy, errstr, errsize) != 0)
            goto fail;
    }
    if (insert_batch_log(s, b, errstr, errsize) != 0) goto fail;
    return pgconn_exec(s->conn, "COMMIT", NULL, errstr, errsize);
fail:
    if (PQstatus(s->conn) == CONNECTION_OK) {
        char ignored[256];
        pgconn_exec(s->conn, "ROLLBACK", NULL, ignored, sizeof ignored);
    }
    return -1;
}

/* Is the batch in batch_log? 1 yes, 0 no, -1 could not tell. */
static int batch_committed(pgsink_t *s, int64_t batch_id)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, batch_id);
    const char *params[1] = {id};
    PGresult *r = PQexecParams(s->conn, "SELECT 1 FROM batch_log WHERE batch_id = $1", 1, NULL,
                               params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? (PQntuples(r) > 0) : -1;
    PQclear(r);
    return rc;
}

int pgsink_commit(pgsink_t *s, const batch_t *b, char *errstr, size_t errsize)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned backoff_ms = 100;
    for (int attempt = 0;; attempt++) {
        if (PQstatus(s->conn) == CONNECTION_OK) {
            int done = attempt > 0 ? batch_committed(s, b->id) : 0;
            if (done == 1) return 0;
            if (done == 0 && commit_once(s, b, errstr, errsize) == 0) return 0;
            /* An error on a live connection is not transient: report it. */
            if (PQstatus(s->conn) == CONNECTION_OK && done == 0) return -1;
        } else {
            snprintf(errstr, errsize, "%s", PQerrorMessage(s->conn));
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= s->retry_seconds) {
            size_t len = strlen(errstr);
            snprintf(errstr + len, errsize - len,
                     " (gave up on batch %" PRId64 " after %" PRId64 " s of retries)", b->id,
                     s->retry_seconds);
            return -1;
        }
        log_warn("database lost while committing batch %" PRId64 " (%s); retrying in %u ms", b->id,
                 strtok(errstr, "\n"), backoff_ms);
        usleep(backoff_ms * 1000);
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
        PQreset(s->conn);
    }
}
