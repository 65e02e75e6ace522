/* sink_ahead.c - the PostgreSQL sink's ahead session (see sink_ahead.h):
 * one connection and one thread that writes the next batch's rows inside
 * an open transaction, then holds them for the sink thread to commit.
 *
 * One mutex guards the state, the batch and the backoff; the condition
 * variable wakes the thread (a batch started, or the end) and the callers
 * of take and forget (the rows written, or the failure). */
#include "stream/sink_ahead.h"
#include "pg/pgconn.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AHEAD_BACKOFF_FIRST_MS 1000
#define AHEAD_BACKOFF_MAX_MS   30000

enum ahead_state { AHEAD_IDLE = 0, AHEAD_WRITING, AHEAD_READY, AHEAD_FAILED, AHEAD_HELD };

struct sink_ahead {
    char conninfo[1024];
    char appname[340];
    sink_ahead_write_fn write;
    void *arg;
    PGconn *conn; /* NULL until the first start, and after a lost session */
    pgcopy_t copy;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum ahead_state state;
    const batch_t *batch; /* WRITING, READY, FAILED, HELD: the batch started */
    int quit;
    int64_t retry_at_ms; /* a lost session: no start before this (monotonic) */
    int backoff_ms;
    char err[1024]; /* FAILED: why */
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Close the session and back off before the next start (under the mutex,
 * or on the thread that owns the connection). */
static void close_session(sink_ahead_t *a)
{
    if (a->conn) PQfinish(a->conn);
    a->conn = NULL;
    a->retry_at_ms = now_ms() + a->backoff_ms;
    a->backoff_ms =
        a->backoff_ms < AHEAD_BACKOFF_MAX_MS / 2 ? a->backoff_ms * 2 : AHEAD_BACKOFF_MAX_MS;
}

/* Open the session when there is none. 0, or -1 with errstr. */
static int ensure_session(sink_ahead_t *a, char *errstr, size_t errsize)
{
    if (a->conn && PQstatus(a->conn) == CONNECTION_OK) return 0;
    if (a->conn) PQfinish(a->conn);
    a->conn = pgconn_open(a->conninfo, errstr, errsize);
    if (a->conn == NULL) return -1;
    return pgconn_set_application_name(a->conn, a->appname, errstr, errsize);
}

/* WRITING, on the thread: BEGIN and the caller's rows. 0, or -1 with
 * a->err (nothing left open; the session closed when lost). */
static int write_batch(sink_ahead_t *a, const batch_t *b)
{
    char err[1024] = "";
    int rc = ensure_session(a, err, sizeof err);
    if (rc == 0) rc = pgconn_exec(a->conn, "BEGIN", NULL, err, sizeof err);
    if (rc == 0) rc = a->write(a->conn, &a->copy, b, a->arg, err, sizeof err);
    if (rc != 0) {
        pgconn_rollback(a->conn);
        pthread_mutex_lock(&a->mu);
        snprintf(a->err, sizeof a->err, "%s", err);
        if (a->conn == NULL || PQstatus(a->conn) != CONNECTION_OK) close_session(a);
        pthread_mutex_unlock(&a->mu);
    }
    return rc;
}

static void *ahead_main(void *arg)
{
    sink_ahead_t *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->state != AHEAD_WRITING && !a->quit)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->quit) break;
        const batch_t *b = a->batch;
        pthread_mutex_unlock(&a->mu);
        int rc = write_batch(a, b);
        pthread_mutex_lock(&a->mu);
        a->state = rc == 0 ? AHEAD_READY : AHEAD_FAILED;
        if (rc == 0) a->backoff_ms = AHEAD_BACKOFF_FIRST_MS;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

sink_ahead_t *sink_ahead_new(const char *conninfo, const char *appname, sink_ahead_write_fn write,
                             void *arg)
{
    sink_ahead_t *a = calloc(1, sizeof *a);
    if (a == NULL) return NULL;
    snprintf(a->conninfo, sizeof a->conninfo, "%s", conninfo);
    snprintf(a->appname, sizeof a->appname, "%s [ahead]", appname);
    a->write = write;
    a->arg = arg;
    a->backoff_ms = AHEAD_BACKOFF_FIRST_MS;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, ahead_main, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        free(a);
        return NULL;
    }
    return a;
}

/* Under the mutex. */
static int idle_locked(const sink_ahead_t *a)
{
    return a->state == AHEAD_IDLE && !a->quit && (a->conn != NULL || now_ms() >= a->retry_at_ms);
}

int sink_ahead_idle(sink_ahead_t *a)
{
    pthread_mutex_lock(&a->mu);
    int idle = idle_locked(a);
    pthread_mutex_unlock(&a->mu);
    return idle;
}

int sink_ahead_start(sink_ahead_t *a, const batch_t *b)
{
    pthread_mutex_lock(&a->mu);
    int taken = idle_locked(a);
    if (taken) {
        a->batch = b;
        a->err[0] = '\0';
        a->state = AHEAD_WRITING;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return taken;
}

PGconn *sink_ahead_take(sink_ahead_t *a, const batch_t *b, char *errstr, size_t errsize)
{
    PGconn *conn = NULL;
    errstr[0] = '\0';
    pthread_mutex_lock(&a->mu);
    if (a->batch == b && a->state != AHEAD_IDLE) {
        while (a->state == AHEAD_WRITING)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->state == AHEAD_READY) {
            a->state = AHEAD_HELD;
            conn = a->conn;
        } else {
            snprintf(errstr, errsize, "%s", a->err);
            a->state = AHEAD_IDLE;
            a->batch = NULL;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return conn;
}

void sink_ahead_release(sink_ahead_t *a, int session_ok, int *lost_pid)
{
    pthread_mutex_lock(&a->mu);
    *lost_pid = 0;
    if (!session_ok) {
        *lost_pid = a->conn ? PQbackendPID(a->conn) : 0;
        close_session(a);
    }
    a->state = AHEAD_IDLE;
    a->batch = NULL;
    pthread_mutex_unlock(&a->mu);
}

void sink_ahead_forget(sink_ahead_t *a)
{
    pthread_mutex_lock(&a->mu);
    while (a->state == AHEAD_WRITING)
        pthread_cond_wait(&a->cv, &a->mu);
    if (a->state == AHEAD_READY || a->state == AHEAD_HELD) pgconn_rollback(a->conn);
    a->state = AHEAD_IDLE;
    a->batch = NULL;
    pthread_mutex_unlock(&a->mu);
}

void sink_ahead_free(sink_ahead_t *a)
{
    if (a == NULL) return;
    pthread_mutex_lock(&a->mu);
    a->quit = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    if (a->conn) PQfinish(a->conn);
    pgcopy_free(&a->copy);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}
