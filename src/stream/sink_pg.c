/* sink_pg.c - the PostgreSQL sink: one transaction per batch (see sink.h).
 *
 * Exactly-once rests on one invariant: a batch's rows (transacoes,
 * transacoes_scores, transacoes_duplicadas, dead_letters) and its batch_log
 * row, holding the per-partition end offsets, commit in ONE transaction. On
 * start the processor reads the newest batch_log row and resumes Kafka there
 * (restore.c). Rows go in with binary COPY (pg/pgcopy.h); the batch_log row
 * with a parameterized INSERT. Order inside the transaction:
 *   BEGIN -> COPY transacoes -> COPY transacoes_scores -> COPY
 *   transacoes_duplicadas -> COPY dead_letters -> INSERT batch_log -> COMMIT
 * A commit that fails because the server went away is retried (reconnecting,
 * with backoff) for retry_seconds; before each retry the batch_log is
 * consulted, since a lost COMMIT reply may hide a commit that happened. */
#include "base/log.h"
#include "base/regions.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"
#include "stream/sink.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct pg_sink {
    stream_sink_t base;
    PGconn *conn;
    char topic[256];
    int64_t retry_seconds;
    pgcopy_t copy;
} pg_sink_t;

static void build_transacoes(pg_sink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    int64_t result_ms = b->result_us / 1000;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_TXN) continue;
        const txn_record_t *rec = &r->rec;
        const txn_t *t = &rec->txn;
        const char *mod = modality_names[t->modality];
        const char *status = txn_status_names[rec->status];
        const char *reason = txn_reason_names[rec->reason];
        pgcopy_row(c, 18);
        pgcopy_uuid(c, t->id);
        pgcopy_uuid(c, t->payer);
        pgcopy_uuid(c, t->receiver);
        pgcopy_text(c, region_table[t->region].code, 2);
        pgcopy_text(c, mod, strlen(mod));
        pgcopy_timestamp(c, t->time_us);
        pgcopy_numeric_cents(c, t->amount_cents);
        if (rec->status == STATUS_NOT_PROCESSED)
            pgcopy_null(c);
        else
            pgcopy_bool(c, rec->status == STATUS_APPROVED);
        pgcopy_timestamp(c, result_ms * 1000);
        pgcopy_timestamp(c, rec->kafka_ts_ms * 1000);
        pgcopy_timestamp(c, b->start_us / 1000 * 1000);
        pgcopy_int8(c, result_ms - rec->kafka_ts_ms);
        pgcopy_int8(c, result_ms - b->start_us / 1000);
        pgcopy_text(c, status, strlen(status));
        if (reason)
            pgcopy_text(c, reason, strlen(reason));
        else
            pgcopy_null(c);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, rec->partition);
        pgcopy_int8(c, rec->offset);
    }
    pgcopy_end(c);
}

static void build_scores(pg_sink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_TXN || isnan(r->rec.t5)) continue;
        pgcopy_row(c, 4);
        pgcopy_uuid(c, r->rec.txn.id);
        pgcopy_float8(c, r->rec.t5);
        pgcopy_float8(c, r->rec.t6);
        pgcopy_float8(c, r->rec.t7);
    }
    pgcopy_end(c);
}

static void build_duplicates(pg_sink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_DUPLICATE) continue;
        pgcopy_row(c, 6);
        pgcopy_uuid(c, r->rec.txn.id);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->rec.partition);
        pgcopy_int8(c, r->rec.offset);
        pgcopy_timestamp(c, r->rec.kafka_ts_ms * 1000);
        pgcopy_bytea(c, b->arena + r->raw_off, r->raw_len);
    }
    pgcopy_end(c);
}

static void build_dead_letters(pg_sink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_DEAD) continue;
        pgcopy_row(c, 6);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->rec.partition);
        pgcopy_int8(c, r->rec.offset);
        pgcopy_timestamp(c, r->rec.kafka_ts_ms * 1000);
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

static int insert_batch_log(pg_sink_t *s, const batch_t *b, char *errstr, size_t errsize)
{
    char id[24], starts[4096], ends[4096], n[6][24];
    const batch_counts_t *k = &b->counts;
    snprintf(id, sizeof id, "%" PRId64, b->id);
    format_offsets(b->start_offsets, b->nparts, starts, sizeof starts);
    format_offsets(b->end_offsets, b->nparts, ends, sizeof ends);
    snprintf(n[0], sizeof n[0], "%" PRId64, k->messages);
    snprintf(n[1], sizeof n[1], "%" PRId64, k->by_status[STATUS_APPROVED]);
    snprintf(n[2], sizeof n[2], "%" PRId64, k->by_status[STATUS_REJECTED]);
    snprintf(n[3], sizeof n[3], "%" PRId64, k->by_status[STATUS_NOT_PROCESSED] + k->duplicates);
    snprintf(n[4], sizeof n[4], "%" PRId64, k->dead);
    snprintf(n[5], sizeof n[5], "%d", b->ranks);
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

static int commit_once(pg_sink_t *s, const batch_t *b, char *errstr, size_t errsize)
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
    if (b->counts.duplicates) {
        build_duplicates(s, b);
        if (pgcopy_send(s->conn,
                        "COPY transacoes_duplicadas (id_transacao, batch_id, kafka_particao,"
                        " kafka_offset, tempo_entrada_kafka, payload) FROM STDIN (FORMAT binary)",
                        &s->copy, errstr, errsize) != 0)
            goto fail;
    }
    if (b->counts.dead) {
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
static int batch_committed(pg_sink_t *s, int64_t batch_id)
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

static int pg_commit(stream_sink_t *base, const batch_t *b, char *errstr, size_t errsize)
{
    pg_sink_t *s = (pg_sink_t *)base;
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

static void pg_close(stream_sink_t *base)
{
    pg_sink_t *s = (pg_sink_t *)base;
    if (s->conn) PQfinish(s->conn);
    pgcopy_free(&s->copy);
    free(s);
}

stream_sink_t *sink_pg_open(const char *conninfo, int64_t retry_seconds, const char *topic,
                            char *errstr, size_t errsize)
{
    pg_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    s->base = (stream_sink_t){"postgres", 1, pg_commit, pg_close};
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->retry_seconds = retry_seconds;
    s->conn = pgconn_open(conninfo, errstr, errsize);
    if (s->conn == NULL) {
        free(s);
        return NULL;
    }
    return &s->base;
}
