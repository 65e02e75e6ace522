/* sink_pg.c - the PostgreSQL sink: one transaction per batch (see sink.h).
 *
 * Exactly-once rests on one invariant: a batch's rows (transacoes,
 * transacoes_scores, transacoes_duplicadas, dead_letters) and its batch_log
 * row, holding the per-partition start and end offsets, commit in ONE
 * transaction. On start the processor reads the newest batch_log row and
 * resumes Kafka there (restore.c). Rows go in with binary COPY (pg/pgcopy.h,
 * at most 1 MiB per PQputCopyData); the batch_log row with a parameterized
 * INSERT. A dead letter stores the first SINK_DEAD_LETTER_MAX bytes of its
 * message, with the full length and its SHA-256. Order inside the
 * transaction:
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
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bytes of a dead letter's message that dead_letters.payload keeps. */
#define SINK_DEAD_LETTER_MAX ((size_t)64 << 10)

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
        /* Never NULL (the original's readers drop series with nulls):
         * false for rows not processed, whose status says why. */
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
        pgcopy_row(c, 7);
        pgcopy_uuid(c, r->rec.txn.id);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->rec.partition);
        pgcopy_int8(c, r->rec.offset);
        pgcopy_timestamp(c, r->rec.kafka_ts_ms * 1000);
        pgcopy_bytea(c, b->arena + r->raw_off, r->raw_len);
        pgcopy_text(c, s->topic, strlen(s->topic));
    }
    pgcopy_end(c);
}

/* The SHA-256 of p[0..len) as 64 hex digits into hex[65]. */
static void sha256_hex(const void *p, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char digits[] = "0123456789abcdef";
    if (EVP_Digest(p, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        hex[0] = '\0'; /* stored as '' rather than a wrong hash */
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

static void build_dead_letters(pg_sink_t *s, const batch_t *b)
{
    pgcopy_t *c = &s->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_DEAD) continue;
        const char *raw = b->arena + r->raw_off;
        size_t kept = r->raw_len < SINK_DEAD_LETTER_MAX ? r->raw_len : SINK_DEAD_LETTER_MAX;
        char hex[65];
        sha256_hex(raw, r->raw_len, hex);
        pgcopy_row(c, 9);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->rec.partition);
        pgcopy_int8(c, r->rec.offset);
        pgcopy_timestamp(c, r->rec.kafka_ts_ms * 1000);
        pgcopy_bytea(c, raw, kept);
        pgcopy_text(c, b->arena + r->err_off, r->err_len);
        pgcopy_text(c, s->topic, strlen(s->topic));
        pgcopy_int8(c, (int64_t)r->raw_len);
        pgcopy_text(c, hex, strlen(hex));
    }
    pgcopy_end(c);
}

/* "{v0,v1,...}" of n values, malloc'd (NULL when out of memory). */
static char *format_array(const int64_t *v, int n)
{
    size_t size = 24 * (size_t)(n > 0 ? n : 1) + 3, len = 0;
    char *out = malloc(size);
    if (out == NULL) return NULL;
    out[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%" PRId64, i ? "," : "", v[i]);
    snprintf(out + len, size - len, "}");
    return out;
}

/* The batch's start and end offsets and, per partition, the Kafka
 * timestamp of the row with the highest offset (-1: none), as arrays. */
typedef struct batch_arrays {
    char *starts, *ends, *last_ts;
} batch_arrays_t;

static void batch_arrays_free(batch_arrays_t *a)
{
    free(a->starts);
    free(a->ends);
    free(a->last_ts);
}

static int batch_arrays(const batch_t *b, batch_arrays_t *a, char *errstr, size_t errsize)
{
    int n = b->nparts;
    int64_t *ts = malloc(sizeof *ts * (size_t)(n > 0 ? n : 1));
    int64_t *top = malloc(sizeof *top * (size_t)(n > 0 ? n : 1));
    memset(a, 0, sizeof *a);
    if (ts && top) {
        for (int p = 0; p < n; p++)
            ts[p] = top[p] = -1;
        for (size_t i = 0; i < b->nrows; i++) {
            const txn_record_t *rec = &b->rows[i].rec;
            int p = rec->partition;
            if (p < 0 || p >= n || rec->offset < top[p]) continue;
            top[p] = rec->offset;
            ts[p] = rec->kafka_ts_ms;
        }
        a->starts = format_array(b->start_offsets, n);
        a->ends = format_array(b->end_offsets, n);
        a->last_ts = format_array(ts, n);
    }
    free(ts);
    free(top);
    if (a->starts && a->ends && a->last_ts) return 0;
    batch_arrays_free(a);
    snprintf(errstr, errsize, "out of memory formatting batch %" PRId64 "'s offsets", b->id);
    return -1;
}

static int insert_batch_log(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a, char *errstr,
                            size_t errsize)
{
    char id[24], n[6][24];
    const batch_counts_t *k = &b->counts;
    snprintf(id, sizeof id, "%" PRId64, b->id);
    snprintf(n[0], sizeof n[0], "%" PRId64, k->messages);
    snprintf(n[1], sizeof n[1], "%" PRId64, k->by_status[STATUS_APPROVED]);
    snprintf(n[2], sizeof n[2], "%" PRId64, k->by_status[STATUS_REJECTED]);
    snprintf(n[3], sizeof n[3], "%" PRId64, k->by_status[STATUS_NOT_PROCESSED] + k->duplicates);
    snprintf(n[4], sizeof n[4], "%" PRId64, k->dead);
    snprintf(n[5], sizeof n[5], "%d", b->ranks);
    const char *params[11] = {id,   s->topic, a->ends, a->starts, n[0],      n[1],
                              n[2], n[3],     n[4],    n[5],      a->last_ts};
    PGresult *r = PQexecParams(s->conn,
                               "INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets,"
                               " n_mensagens, n_aprovadas, n_rejeitadas, n_nao_processadas,"
                               " n_dead_letters, ranks, last_ts_ms) VALUES ($1, $2, $3, $4, $5,"
                               " $6, $7, $8, $9, $10, $11)",
                               11, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc) pgconn_error(s->conn, r, "INSERT INTO batch_log failed", errstr, errsize);
    PQclear(r);
    return rc;
}

static int commit_once(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a, char *errstr,
                       size_t errsize)
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
                        " kafka_offset, tempo_entrada_kafka, payload, topic)"
                        " FROM STDIN (FORMAT binary)",
                        &s->copy, errstr, errsize) != 0)
            goto fail;
    }
    if (b->counts.dead) {
        build_dead_letters(s, b);
        if (pgcopy_send(s->conn,
                        "COPY dead_letters (batch_id, kafka_particao, kafka_offset,"
                        " tempo_entrada_kafka, payload, erro, topic, tamanho, sha256)"
                        " FROM STDIN (FORMAT binary)",
                        &s->copy, errstr, errsize) != 0)
            goto fail;
    }
    if (insert_batch_log(s, b, a, errstr, errsize) != 0) goto fail;
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
    batch_arrays_t a;
    if (batch_arrays(b, &a, errstr, errsize) != 0) return -1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned backoff_ms = 100;
    int rc = -1;
    for (int attempt = 0;; attempt++) {
        if (PQstatus(s->conn) == CONNECTION_OK) {
            int done = attempt > 0 ? batch_committed(s, b->id) : 0;
            if (done == 1 || (done == 0 && commit_once(s, b, &a, errstr, errsize) == 0)) {
                rc = 0;
                break;
            }
            /* An error on a live connection is not transient: report it. */
            if (PQstatus(s->conn) == CONNECTION_OK && done == 0) break;
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
            break;
        }
        log_warn("database lost while committing batch %" PRId64 " (%s); retrying in %u ms", b->id,
                 strtok(errstr, "\n"), backoff_ms);
        usleep(backoff_ms * 1000);
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
        PQreset(s->conn);
    }
    batch_arrays_free(&a);
    return rc;
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
