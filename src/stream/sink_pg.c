/* sink_pg.c - the PostgreSQL sink: one transaction per batch (see sink.h).
 *
 * Exactly-once rests on three invariants:
 *   1. A batch's rows (transacoes, transacoes_scores, transacoes_duplicadas,
 *      dead_letters) and its batch_log row, holding the per-partition start
 *      and end offsets, commit in ONE transaction. On start the processor
 *      reads the newest batch_log row and resumes Kafka there (restore.c).
 *   2. One processor per database (pg/pglock.h): the sink's session takes
 *      the processor lock when it connects, before restore reads anything,
 *      and again after every reconnect, before it writes anything; a run
 *      that finds it held stops with one line naming the holder. Every
 *      batch transaction first checks that this session still holds it,
 *      that bankstream_meta's database_id is still the one read at start (a
 *      database re-initialized under the processor stops it) and that
 *      batch_log's newest batch is the one before this batch.
 *   3. A retry after a lost connection decides "committed" by the batch's
 *      identity, its topic and start and end offsets, never by its id alone:
 *      another batch under the same id is an error that says so.
 * Rows go in with binary COPY (pg/pgcopy.h, at most 1 MiB per
 * PQputCopyData); the batch_log row with a parameterized INSERT. A dead
 * letter stores the first SINK_DEAD_LETTER_MAX bytes of its message, with
 * the full length and its SHA-256. Session and transaction:
 *
 *   connect --session_setup--> OWNER (application_name 'bankstream run
 *   <topic>', the lock, the database id)
 *   OWNER: BEGIN -> check_owner -> COPY transacoes -> COPY
 *   transacoes_scores -> COPY transacoes_duplicadas -> COPY dead_letters ->
 *   INSERT batch_log -> COMMIT                                (commit_once)
 *   lost -> PQreset with backoff for retry_seconds -> session_setup ->
 *   batch_committed (identity) -> done, or commit_once again   (pg_commit) */
#include "base/log.h"
#include "base/regions.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"
#include "pg/pglock.h"
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
    char appname[300];     /* 'bankstream run <topic>' */
    char database_id[128]; /* bankstream_meta's, read when the sink opened */
    int session_ok;        /* this session has the lock and was checked */
    int lock_pid;          /* backend that took the lock last, 0 = none */
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
    const char *params[12] = {id,   s->topic, a->ends, a->starts, n[0],       n[1],
                              n[2], n[3],     n[4],    n[5],      a->last_ts, b->note};
    PGresult *r = PQexecParams(s->conn,
                               "INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets,"
                               " n_mensagens, n_aprovadas, n_rejeitadas, n_nao_processadas,"
                               " n_dead_letters, ranks, last_ts_ms, nota) VALUES ($1, $2, $3, $4,"
                               " $5, $6, $7, $8, $9, $10, $11, $12)",
                               12, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc) pgconn_error(s->conn, r, "INSERT INTO batch_log failed", errstr, errsize);
    PQclear(r);
    return rc;
}

/* The database's identity as init recorded it (as pgstate_database_id). */
static const char database_id_sql[] =
    "coalesce((SELECT valor FROM bankstream_meta WHERE chave = 'database_id'),"
    " (SELECT valor FROM bankstream_meta WHERE chave = 'initialized_at'), '')";

/* A failure on the session: transient (1) when the connection is gone,
 * else fatal (-1). */
static int session_failure(pg_sink_t *s)
{
    return PQstatus(s->conn) == CONNECTION_OK ? -1 : 1;
}

/* Invariant 2, on a new session: application_name, the processor lock,
 * the database's identity. `batch` is the batch being retried (0 at open).
 * Returns 0 (s->session_ok set); 1, transient, with errstr: the connection
 * failed, or this processor's previous session still holds the lock (the
 * server has not noticed that it is gone yet); -1 with errstr: another
 * processor holds the database, or it is not the database this run started
 * on (the run stops). */
static int session_setup(pg_sink_t *s, int64_t batch, char *errstr, size_t errsize)
{
    const char *params[1] = {s->appname};
    PGresult *r = PQexecParams(s->conn, "SELECT set_config('application_name', $1, false)", 1, NULL,
                               params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) pgconn_error(s->conn, r, "setting application_name failed", errstr, errsize);
    PQclear(r);
    if (!ok) return session_failure(s);
    char holder[1024];
    int pid = 0;
    int got = pglock_take(s->conn, 0, holder, sizeof holder, &pid, errstr, errsize);
    if (got == PGLOCK_ERROR) return session_failure(s);
    if (got == PGLOCK_BUSY) {
        if (s->lock_pid != 0 && pid == s->lock_pid) {
            snprintf(errstr, errsize,
                     "this processor's previous session (backend pid %d) still holds the "
                     "database; waiting for the server to end it",
                     pid);
            return 1;
        }
        if (batch == 0)
            snprintf(errstr, errsize,
                     "%s; only one processor may run per database: stop that one first", holder);
        else
            snprintf(errstr, errsize,
                     "%s: another processor took the database while this one was reconnecting "
                     "to commit batch %" PRId64 "; this one stops without committing it",
                     holder, batch);
        return -1;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s", database_id_sql);
    r = PQexec(s->conn, sql);
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        pgconn_error(s->conn, r, "reading bankstream_meta failed (run 'bankstream init' first?)",
                     errstr, errsize);
        PQclear(r);
        return session_failure(s);
    }
    const char *id = PQgetvalue(r, 0, 0);
    int same = batch == 0 || strcmp(id, s->database_id) == 0;
    if (batch == 0)
        snprintf(s->database_id, sizeof s->database_id, "%s", id);
    else if (!same)
        snprintf(errstr, errsize,
                 "the database was re-initialized while this processor ran (its id is now %s, "
                 "was %s); this processor stops without committing batch %" PRId64
                 ": start 'bankstream run' again to process the new database",
                 *id ? id : "(none)", s->database_id, batch);
    PQclear(r);
    if (!same) return -1;
    s->lock_pid = PQbackendPID(s->conn);
    s->session_ok = 1;
    return 0;
}

/* Invariant 2, inside the batch transaction. 0, or -1 with errstr. */
static int check_owner(pg_sink_t *s, const batch_t *b, char *errstr, size_t errsize)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s, %s, (SELECT coalesce(max(batch_id), 0) FROM batch_log),"
             " current_database()",
             pglock_held_sql(), database_id_sql);
    PGresult *r = PQexec(s->conn, sql);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(s->conn, r, "checking that this processor still owns the database failed",
                     errstr, errsize);
        goto done;
    }
    const char *held = PQgetvalue(r, 0, 0), *id = PQgetvalue(r, 0, 1);
    const char *db = PQgetvalue(r, 0, 3);
    int64_t newest = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    if (strcmp(held, "t") != 0)
        snprintf(errstr, errsize,
                 "this processor's session no longer holds the processor lock of database "
                 "\"%s\"; it stops without committing batch %" PRId64,
                 db, b->id);
    else if (strcmp(id, s->database_id) != 0)
        snprintf(errstr, errsize,
                 "database \"%s\" was re-initialized while this processor ran (its id is now "
                 "%s, was %s); this processor stops without committing batch %" PRId64
                 ": start 'bankstream run' again to process the new database",
                 db, *id ? id : "(none)", s->database_id, b->id);
    else if (newest != b->id - 1)
        snprintf(errstr, errsize,
                 "batch_log of database \"%s\" ends at batch %" PRId64 ", not %" PRId64
                 ": another processor committed batches in it; this one stops without "
                 "committing batch %" PRId64,
                 db, newest, b->id - 1, b->id);
    else
        rc = 0;
done:
    PQclear(r);
    return rc;
}

static int commit_once(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a, char *errstr,
                       size_t errsize)
{
    if (pgconn_exec(s->conn, "BEGIN", NULL, errstr, errsize) != 0) return -1;
    if (check_owner(s, b, errstr, errsize) != 0) goto fail;
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

/* Invariant 3: is this batch in batch_log? 1 yes (same id, topic and
 * offsets), 0 no, -1 could not tell (errstr), -2 another batch holds its
 * id (errstr says so: the run stops). */
static int batch_committed(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a, char *errstr,
                           size_t errsize)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, b->id);
    const char *params[4] = {id, s->topic, a->starts, a->ends};
    PGresult *r = PQexecParams(s->conn,
                               "SELECT topic = $2 AND start_offsets = $3::bigint[]"
                               " AND end_offsets = $4::bigint[], topic,"
                               " start_offsets::text, end_offsets::text"
                               " FROM batch_log WHERE batch_id = $1",
                               4, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(s->conn, r, "reading batch_log failed", errstr, errsize);
    } else if (PQntuples(r) == 0) {
        rc = 0;
    } else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
        rc = 1;
    } else {
        snprintf(errstr, errsize,
                 "batch_log holds another batch under id %" PRId64
                 " (topic %s, offsets %s to %s, where this one is topic %s, %s to %s): another "
                 "processor committed it while this one was reconnecting; this one stops "
                 "without committing its batch %" PRId64,
                 b->id, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), s->topic,
                 a->starts, a->ends, b->id);
        rc = -2;
    }
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
            /* A new session owns nothing until set up (invariant 2). */
            int ready = s->session_ok ? 0 : session_setup(s, b->id, errstr, errsize);
            if (ready < 0) break;
            if (ready == 0) {
                int done = attempt > 0 ? batch_committed(s, b, &a, errstr, errsize) : 0;
                if (done == 1) {
                    rc = 0;
                    break;
                }
                if (done == -2) break;
                if (done == 0 && commit_once(s, b, &a, errstr, errsize) == 0) {
                    rc = 0;
                    break;
                }
                /* An error on a live connection is not transient: report it. */
                if (PQstatus(s->conn) == CONNECTION_OK && done == 0) break;
            }
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
        s->session_ok = 0;
        PQreset(s->conn);
    }
    batch_arrays_free(&a);
    return rc;
}

static void pg_close(stream_sink_t *base)
{
    pg_sink_t *s = (pg_sink_t *)base;
    if (s->conn) PQfinish(s->conn); /* ends the session: releases the lock */
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
    snprintf(s->appname, sizeof s->appname, "bankstream run %s", topic);
    s->retry_seconds = retry_seconds;
    s->conn = pgconn_open(conninfo, errstr, errsize);
    if (s->conn == NULL || session_setup(s, 0, errstr, errsize) != 0) {
        pg_close(&s->base);
        return NULL;
    }
    return &s->base;
}
