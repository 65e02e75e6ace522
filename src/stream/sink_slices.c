/* sink_slices.c - the slice sessions of the PostgreSQL sink (see
 * sink_slices.h).
 *
 * A slice's state in one batch:
 *
 *   IDLE --start (no rows)--> IDLE
 *   IDLE --start--> RUNNING --prepare ok--> PREPARED --finish--> IDLE
 *                      |
 *                      +--failure--> IDLE (its transaction rolled back, or
 *                                    its session lost: it may or may not
 *                                    have prepared; resolution decides)
 *
 * The threads only touch their own slice (its connection, its COPY buffer,
 * its outcome) and, under the mutex, the count of ended threads. The
 * caller's thread waits on the condition variable, and between waits
 * watches for slices that cannot go on (see sink_slices_wait); it cancels
 * them with PQcancel, which libpq allows from another thread. */
#include "stream/sink_slices.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"
#include "pg/pglock.h"
#include "pg/pgprepared.h"
#include "stream/sink_rows.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLICES_WATCH_MS 500 /* between two looks for slices that cannot go on */

enum slice_state { SLICE_IDLE = 0, SLICE_RUNNING, SLICE_PREPARED };

typedef struct slice {
    sink_slices_t *owner;
    int index;
    PGconn *conn;
    PGcancel *cancel;
    int pid; /* its backend */
    pgcopy_t copy;
    pthread_t thread;
    int started; /* a thread runs or ran in this batch and was not joined */
    enum slice_state state;
    int failed, lost; /* the last start's outcome: failed (lost: its session is gone) */
    char gid[PGPREPARED_GID_SIZE];
    char err[512];
} slice_t;

struct sink_slices {
    char conninfo[1024];
    char appname[300];
    int n;
    slice_t *slices;
    /* the batch in flight (start .. wait) */
    const batch_t *batch;
    int64_t created_at_us;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running; /* threads not ended yet */
};

sink_slices_t *sink_slices_new(const char *conninfo, int n, const char *appname)
{
    sink_slices_t *sl = calloc(1, sizeof *sl);
    if (sl == NULL) return NULL;
    sl->slices = calloc((size_t)n, sizeof *sl->slices);
    if (sl->slices == NULL) {
        free(sl);
        return NULL;
    }
    snprintf(sl->conninfo, sizeof sl->conninfo, "%s", conninfo);
    snprintf(sl->appname, sizeof sl->appname, "%s", appname);
    sl->n = n;
    for (int k = 0; k < n; k++) {
        sl->slices[k].owner = sl;
        sl->slices[k].index = k;
    }
    pthread_mutex_init(&sl->mu, NULL);
    pthread_cond_init(&sl->cv, NULL);
    return sl;
}

static void slice_close(slice_t *s)
{
    if (s->cancel) PQfreeCancel(s->cancel);
    if (s->conn) PQfinish(s->conn);
    s->cancel = NULL;
    s->conn = NULL;
    s->pid = 0;
}

void sink_slices_disconnect(sink_slices_t *sl)
{
    for (int k = 0; k < sl->n; k++)
        slice_close(&sl->slices[k]);
}

void sink_slices_free(sink_slices_t *sl)
{
    if (sl == NULL) return;
    sink_slices_disconnect(sl);
    for (int k = 0; k < sl->n; k++)
        pgcopy_free(&sl->slices[k].copy);
    pthread_mutex_destroy(&sl->mu);
    pthread_cond_destroy(&sl->cv);
    free(sl->slices);
    free(sl);
}

int sink_slices_connected(const sink_slices_t *sl)
{
    for (int k = 0; k < sl->n; k++)
        if (sl->slices[k].conn == NULL || PQstatus(sl->slices[k].conn) != CONNECTION_OK) return 0;
    return 1;
}

/* A failure on conn: transient (1) when the session is gone, else -1. */
static int failure_kind(PGconn *conn)
{
    return conn && PQstatus(conn) == CONNECTION_OK ? -1 : 1;
}

/* Open slice s and join the fence. 0, 1 (transient) or -1, with errstr. */
static int slice_connect(sink_slices_t *sl, slice_t *s, int lock_pid, char *errstr, size_t errsize)
{
    char err[900];
    char appname[340];
    slice_close(s);
    s->conn = pgconn_open(sl->conninfo, err, sizeof err);
    if (s->conn == NULL) {
        snprintf(errstr, errsize, "slice %d/%d: %s", s->index + 1, sl->n, err);
        return 1;
    }
    snprintf(appname, sizeof appname, "%s [slice %d/%d]", sl->appname, s->index + 1, sl->n);
    int rc = 0;
    if (pgconn_set_application_name(s->conn, appname, err, sizeof err) != 0)
        rc = failure_kind(s->conn);
    if (rc == 0) {
        int joined = pglock_fence_join(s->conn, lock_pid, err, sizeof err);
        if (joined == PGLOCK_BUSY) rc = -1;
        if (joined == PGLOCK_ERROR) rc = failure_kind(s->conn);
    }
    if (rc == 0) {
        s->cancel = PQgetCancel(s->conn);
        s->pid = PQbackendPID(s->conn);
        if (s->cancel == NULL) {
            snprintf(err, sizeof err, "out of memory (a cancel handle)");
            rc = -1;
        }
    }
    if (rc != 0) {
        snprintf(errstr, errsize, "slice %d/%d: %s", s->index + 1, sl->n, err);
        slice_close(s);
    }
    return rc;
}

int sink_slices_connect(sink_slices_t *sl, int lock_pid, char *errstr, size_t errsize)
{
    for (int k = 0; k < sl->n; k++) {
        int rc = slice_connect(sl, &sl->slices[k], lock_pid, errstr, errsize);
        if (rc != 0) {
            sink_slices_disconnect(sl);
            return rc;
        }
    }
    return 0;
}

/* Phase one of slice s, on its thread. 0, or -1 with s->err (the
 * transaction rolled back when the session is alive). */
static int slice_prepare(slice_t *s)
{
    sink_slices_t *sl = s->owner;
    PGconn *c = s->conn;
    char sql[PGPREPARED_GID_SIZE + 32];
    if (pgconn_exec(c, "BEGIN", NULL, s->err, sizeof s->err) != 0) return -1;
    sink_rows_transacoes(&s->copy, sl->batch, s->index, sl->n, sl->created_at_us);
    if (pgcopy_send(c, sink_rows_transacoes_sql(1), &s->copy, s->err, sizeof s->err) != 0)
        goto fail;
    sink_rows_scores(&s->copy, sl->batch, s->index, sl->n);
    if (pgcopy_send(c, sink_rows_scores_sql, &s->copy, s->err, sizeof s->err) != 0) goto fail;
    snprintf(sql, sizeof sql, "PREPARE TRANSACTION '%s'", s->gid);
    /* A failed PREPARE rolls the transaction back by itself. */
    return pgconn_exec(c, sql, "PREPARE TRANSACTION", s->err, sizeof s->err);
fail:
    pgconn_rollback(c);
    return -1;
}

static void *slice_main(void *arg)
{
    slice_t *s = arg;
    sink_slices_t *sl = s->owner;
    int rc = slice_prepare(s);
    int lost = PQstatus(s->conn) != CONNECTION_OK;
    pthread_mutex_lock(&sl->mu);
    s->state = rc == 0 ? SLICE_PREPARED : SLICE_IDLE;
    s->failed = rc != 0;
    s->lost = rc != 0 && lost;
    sl->running--;
    pthread_cond_broadcast(&sl->cv);
    pthread_mutex_unlock(&sl->mu);
    return NULL;
}

/* Join every thread of the last start. */
static void join_all(sink_slices_t *sl)
{
    for (int k = 0; k < sl->n; k++) {
        if (!sl->slices[k].started) continue;
        pthread_join(sl->slices[k].thread, NULL);
        sl->slices[k].started = 0;
    }
}

int sink_slices_start(sink_slices_t *sl, const batch_t *b, const char *identity,
                      const char *database_id, int64_t created_at_us, char *errstr, size_t errsize)
{
    sl->batch = b;
    sl->created_at_us = created_at_us;
    sl->running = 0;
    int rc = 0;
    for (int k = 0; k < sl->n && rc == 0; k++) {
        slice_t *s = &sl->slices[k];
        s->failed = s->lost = 0;
        s->err[0] = '\0';
        s->state = SLICE_IDLE;
        if (sink_rows_count(b, k, sl->n) == 0) continue;
        if (pgprepared_gid(s->gid, b->id, identity, k, sl->n, database_id) != 0) {
            snprintf(errstr, errsize, "database id '%s' cannot name a prepared transaction",
                     database_id);
            rc = -1;
            break;
        }
        s->state = SLICE_RUNNING;
        pthread_mutex_lock(&sl->mu);
        sl->running++;
        pthread_mutex_unlock(&sl->mu);
        if (pthread_create(&s->thread, NULL, slice_main, s) != 0) {
            pthread_mutex_lock(&sl->mu);
            sl->running--;
            pthread_mutex_unlock(&sl->mu);
            s->state = SLICE_IDLE;
            snprintf(errstr, errsize, "cannot start the thread of slice %d/%d", k + 1, sl->n);
            rc = -1;
        } else {
            s->started = 1;
        }
    }
    if (rc != 0) {
        join_all(sl);
        char ignored[256];
        sink_slices_finish(sl, 0, NULL, ignored, sizeof ignored);
    }
    return rc;
}

/* Running slices that wait for a lock only a prepared transaction holds:
 * cancels them and describes the first in why. Returns how many, or 0 when
 * none (or the question could not be asked: home is not usable). */
static int cancel_waiting(sink_slices_t *sl, PGconn *home, char *why, size_t whysize)
{
    char pids[16 * 64] = "{";
    size_t len = 1;
    int nrunning = 0;
    for (int k = 0; k < sl->n; k++) {
        const slice_t *s = &sl->slices[k];
        if (s->state != SLICE_RUNNING || s->pid == 0 || len + 16 >= sizeof pids) continue;
        len += (size_t)snprintf(pids + len, sizeof pids - len, "%s%d", nrunning ? "," : "", s->pid);
        nrunning++;
    }
    snprintf(pids + len, sizeof pids - len, "}");
    if (nrunning == 0 || home == NULL || PQstatus(home) != CONNECTION_OK) return 0;
    const char *params[1] = {pids};
    PGresult *r = PQexecParams(
        home,
        "SELECT p, coalesce((SELECT l.locktype || coalesce(' on ' || l.relation::regclass::text,"
        " '') FROM pg_locks l WHERE l.pid = p AND NOT l.granted LIMIT 1), 'a'),"
        " coalesce((SELECT string_agg(t.tgname, ', ' ORDER BY t.tgname) FROM pg_trigger t"
        "  WHERE t.tgrelid IN ('transacoes'::regclass, 'transacoes_scores'::regclass)"
        "  AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgtype & 4 <> 0), 'none')"
        " FROM unnest($1::int[]) AS p"
        " WHERE cardinality(pg_blocking_pids(p)) > 0 AND pg_blocking_pids(p) <@ '{0}'::int[]",
        1, NULL, params, NULL, NULL, 0);
    int n = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        int pid = atoi(PQgetvalue(r, i, 0));
        for (int k = 0; k < sl->n; k++) {
            slice_t *s = &sl->slices[k];
            if (s->pid != pid) continue;
            char ignored[256];
            PQcancel(s->cancel, ignored, sizeof ignored);
            if (i == 0)
                snprintf(why, whysize,
                         "slice %d/%d (backend pid %d) waits for %s lock that a prepared "
                         "transaction holds, which keeps it until every slice is prepared "
                         "(INSERT triggers on transacoes and transacoes_scores: %s)",
                         k + 1, sl->n, pid, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        }
    }
    PQclear(r);
    return n;
}

int sink_slices_wait(sink_slices_t *sl, PGconn *home, char *errstr, size_t errsize)
{
    char why[1024] = "";
    int cancelled = 0;
    pthread_mutex_lock(&sl->mu);
    while (sl->running > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)SLICES_WATCH_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        int rc = pthread_cond_timedwait(&sl->cv, &sl->mu, &until);
        if (rc != ETIMEDOUT || sl->running == 0 || cancelled) continue;
        int prepared = 0;
        for (int k = 0; k < sl->n; k++)
            prepared += sl->slices[k].state == SLICE_PREPARED;
        if (prepared == 0) continue;
        /* The slices' pids and states do not change while they run; the
         * query runs without the lock so that ending threads can go on. */
        pthread_mutex_unlock(&sl->mu);
        cancelled = cancel_waiting(sl, home, why, sizeof why) > 0;
        pthread_mutex_lock(&sl->mu);
    }
    pthread_mutex_unlock(&sl->mu);
    join_all(sl);
    const slice_t *first = NULL;
    int lost = 0;
    for (int k = 0; k < sl->n; k++) {
        const slice_t *s = &sl->slices[k];
        if (!s->failed) continue;
        if (first == NULL) first = s;
        lost |= s->lost;
    }
    if (first == NULL) return SLICES_PREPARED;
    if (cancelled) {
        snprintf(errstr, errsize, "%s", why);
        return SLICES_WAITING;
    }
    snprintf(errstr, errsize, "slice %d/%d: %s", first->index + 1, sl->n, first->err);
    return lost ? SLICES_LOST : SLICES_FAILED;
}

int sink_slices_pending(const sink_slices_t *sl)
{
    int n = 0;
    for (int k = 0; k < sl->n; k++)
        n += sl->slices[k].state == SLICE_PREPARED;
    return n;
}

/* Collect the result of a sent COMMIT/ROLLBACK PREPARED: 0 finished (or
 * no longer prepared), 1 session lost, -1 error (err). */
static int finish_result(slice_t *s, const char *what, char *err, size_t errsize)
{
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (!(state && strcmp(state, "42704") == 0)) {
                pgconn_error(s->conn, r, what, err, errsize);
                rc = failure_kind(s->conn);
            }
        }
        PQclear(r);
    }
    if (rc == 0 && PQstatus(s->conn) != CONNECTION_OK) {
        pgconn_error(s->conn, NULL, what, err, errsize);
        rc = 1;
    }
    return rc;
}

int sink_slices_finish(sink_slices_t *sl, int commit, PGconn *home, char *errstr, size_t errsize)
{
    const char *verb = commit ? "COMMIT PREPARED" : "ROLLBACK PREPARED";
    int sent[SINK_SLICES_MAX] = {0}, error = 0;
    char err[600] = "";
    /* All at once: each slice's statement on its own session. */
    for (int k = 0; k < sl->n; k++) {
        slice_t *s = &sl->slices[k];
        char sql[PGPREPARED_GID_SIZE + 32];
        sent[k] = 0;
        if (s->state != SLICE_PREPARED || s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK)
            continue;
        snprintf(sql, sizeof sql, "%s '%s'", verb, s->gid);
        sent[k] = PQsendQuery(s->conn, sql) == 1;
    }
    for (int k = 0; k < sl->n; k++) {
        slice_t *s = &sl->slices[k];
        if (!sent[k]) continue;
        int rc = finish_result(s, verb, err, sizeof err);
        if (rc == 0) s->state = SLICE_IDLE;
        if (rc < 0) error = 1;
    }
    /* Those whose session is gone: through home. */
    for (int k = 0; k < sl->n; k++) {
        slice_t *s = &sl->slices[k];
        int session_gone = s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK;
        if (s->state != SLICE_PREPARED || (sent[k] && !session_gone) || home == NULL ||
            PQstatus(home) != CONNECTION_OK)
            continue;
        int rc = pgprepared_finish(home, s->gid, commit, err, sizeof err);
        if (rc >= 0) s->state = SLICE_IDLE;
        if (rc < 0 && PQstatus(home) == CONNECTION_OK) error = 1;
    }
    int left = sink_slices_pending(sl);
    if (left == 0) return 0;
    snprintf(errstr, errsize, "%d prepared slice(s) not %s: %s", left,
             commit ? "committed" : "rolled back", err[0] ? err : "their sessions are gone");
    return error ? -1 : 1;
}
