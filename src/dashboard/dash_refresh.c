/* dash_refresh.c - the aggregates' catch-up thread (see dash_refresh.h).
 *
 * Invariants:
 *   1. r->conn is used by the thread only; r->cancel is set (under r->mu)
 *      exactly while a call runs, so that dash_refresh_stop can cancel it.
 *   2. A tick never runs past a stop request by more than the call in
 *      progress, and that call is cancelled: its transaction rolls back and
 *      the watermark stays where the last committed call left it.
 * State of a tick:
 *   wait period (or stop) -> connect if needed (ensure_conn) -> call
 *   dashboard_atualizar($chunk) (call_once) until em_dia, 0 rows, an error
 *   or a stop -> log what a long catch-up counted -> wait. */
#include "dashboard/dash_refresh.h"
#include "base/log.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A tick that counted at least this many rows says so in the log. */
#define DASH_REFRESH_LOG_ROWS 200000

struct dash_refresh {
    char *conninfo;
    int period_ms, timeout_ms;
    PGconn *conn;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int stop;
    PGcancel *cancel; /* invariant 1 */
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The first line of a libpq message. */
static void first_line(char *out, size_t size, const char *msg)
{
    snprintf(out, size, "%s", msg && *msg ? msg : "unknown error");
    out[strcspn(out, "\r\n")] = '\0';
}

/* Connect and set the session up. Returns 0, or -1 (logged). */
static int ensure_conn(dash_refresh_t *r)
{
    if (r->conn && PQstatus(r->conn) == CONNECTION_OK) return 0;
    if (r->conn) PQfinish(r->conn);
    r->conn = PQconnectdb(r->conninfo);
    char msg[512];
    if (PQstatus(r->conn) != CONNECTION_OK) {
        first_line(msg, sizeof msg, PQerrorMessage(r->conn));
        log_warn_every("dash-refresh-conn", 60,
                       "the aggregates' catch-up cannot connect to PostgreSQL: %s (retrying)", msg);
        PQfinish(r->conn);
        r->conn = NULL;
        return -1;
    }
    /* Not read-only (dash_db's sessions are): dashboard_atualizar writes
     * the aggregates, as their owner (SECURITY DEFINER). No statement
     * timeout: a call counts at most DASH_REFRESH_CHUNK rows, and a stop
     * cancels it. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET default_transaction_read_only = off; SET statement_timeout = 0;"
             " SET lock_timeout = %d; SET application_name = 'bankstream dashboard (agregados)'",
             r->timeout_ms);
    PGresult *res = PQexec(r->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        first_line(msg, sizeof msg, PQerrorMessage(r->conn));
        log_warn_every("dash-refresh-conn", 60, "the aggregates' catch-up: setting up: %s", msg);
        PQfinish(r->conn);
        r->conn = NULL;
        return -1;
    }
    return 0;
}

/* One dashboard_atualizar() call. Returns 1 caught up, 0 more to do (or
 * skipped: *rows 0), -1 failed (logged). */
static int call_once(dash_refresh_t *r, long long *rows, long long *watermark)
{
    static const char sql[] = "SELECT ate_batch, linhas, em_dia FROM dashboard_atualizar($1)";
    char chunk[32];
    snprintf(chunk, sizeof chunk, "%d", DASH_REFRESH_CHUNK);
    const char *params[1] = {chunk};
    pthread_mutex_lock(&r->mu);
    r->cancel = PQgetCancel(r->conn);
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    PGresult *res = stop ? NULL : PQexecParams(r->conn, sql, 1, NULL, params, NULL, NULL, 0);
    pthread_mutex_lock(&r->mu);
    PQfreeCancel(r->cancel);
    r->cancel = NULL;
    stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    int rc = -1;
    if (res == NULL) return -1; /* stopping */
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        *watermark = atoll(PQgetvalue(res, 0, 0));
        *rows = atoll(PQgetvalue(res, 0, 1));
        rc = strcmp(PQgetvalue(res, 0, 2), "t") == 0 ? 1 : 0;
    } else if (!stop) {
        char msg[512];
        first_line(msg, sizeof msg, PQresultErrorMessage(res));
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (!strcmp(state, "42883") || !strcmp(state, "42P01")))
            log_warn_every("dash-refresh", 60,
                           "the database has no dashboard_atualizar() (an older schema): the "
                           "analyses stay as they are until 'bankstream init' of this version "
                           "(%s)",
                           msg);
        else
            log_warn_every("dash-refresh", 60, "the aggregates' catch-up failed: %s (retrying)",
                           msg);
    }
    PQclear(res);
    return rc;
}

/* Sleep period_ms, or until a stop. Returns 1 when stopping. */
static int wait_tick(dash_refresh_t *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += r->period_ms / 1000;
    until.tv_nsec += (long)(r->period_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stop && pthread_cond_timedwait(&r->wake, &r->mu, &until) != ETIMEDOUT) {
    }
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

static void *dash_refresh_main(void *arg)
{
    dash_refresh_t *r = arg;
    do {
        if (ensure_conn(r) != 0) continue;
        long long total = 0, rows = 0, watermark = 0, first = -1;
        double t0 = now_s();
        int rc;
        do {
            rows = 0;
            rc = call_once(r, &rows, &watermark);
            if (first < 0 && rc >= 0) first = watermark;
            total += rows;
        } while (rc == 0 && rows > 0);
        if (total >= DASH_REFRESH_LOG_ROWS)
            log_info("aggregates: counted %lld rows in %.1f s, now up to batch %lld%s", total,
                     now_s() - t0, watermark, rc == 1 ? " (caught up)" : "");
    } while (!wait_tick(r));
    return NULL;
}

dash_refresh_t *dash_refresh_start(const char *conninfo, int period_ms, int timeout_ms, char *err,
                                   size_t errsize)
{
    dash_refresh_t *r = calloc(1, sizeof *r);
    if (r == NULL || (r->conninfo = strdup(conninfo)) == NULL) {
        free(r);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    r->period_ms = period_ms < 1 ? 1 : period_ms;
    r->timeout_ms = timeout_ms;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pthread_create(&r->thread, NULL, dash_refresh_main, r) != 0) {
        snprintf(err, errsize, "cannot start the aggregates' catch-up thread");
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->mu);
        free(r->conninfo);
        free(r);
        return NULL;
    }
    return r;
}

void dash_refresh_stop(dash_refresh_t *r)
{
    if (r == NULL) return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    if (r->cancel) {
        char buf[256];
        PQcancel(r->cancel, buf, sizeof buf);
    }
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    if (r->conn) PQfinish(r->conn);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->mu);
    free(r->conninfo);
    free(r);
}
