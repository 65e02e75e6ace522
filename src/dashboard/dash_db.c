/* dash_db.c - a pool of read-only PostgreSQL connections (see dash_db.h).
 *
 * Invariants:
 *   1. A slot is used by one thread at a time: taken under db->mu (busy = 1),
 *      given back under db->mu, and a waiter is woken by db->freed.
 *   2. A slot's connection is NULL until first used; a broken one is reset
 *      (PQreset) before its next query, and the query retried once when the
 *      connection broke under it. */
#include "dashboard/dash_db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DASH_DB_MAX      16
#define DASH_DB_WAIT_SEC 5

typedef struct dash_slot {
    PGconn *conn;
    int busy;
} dash_slot_t;

struct dash_db {
    char *conninfo;
    int size, timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    dash_slot_t slot[DASH_DB_MAX];
};

/* Copy a libpq message as one line. */
static void one_line(char *err, size_t errsize, const char *what, const char *msg)
{
    snprintf(err, errsize, "%s: %s", what, msg && *msg ? msg : "unknown error");
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r') {
            /* keep the first line only, and drop a trailing newline */
            *p = '\0';
            break;
        }
}

/* Connect and set the session up (invariant in dash_db.h). Returns the
 * connection, or NULL with err. */
static PGconn *dash_db_connect(const dash_db_t *db, char *err, size_t errsize)
{
    PGconn *c = PQconnectdb(db->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        one_line(err, errsize, "cannot connect to PostgreSQL", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET statement_timeout = %d; SET lock_timeout = %d;"
             " SET default_transaction_read_only = on;"
             " SET application_name = 'bankstream dashboard'; SET TIME ZONE 'UTC'",
             db->timeout_ms, db->timeout_ms);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        one_line(err, errsize, "cannot set up the PostgreSQL session", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

dash_db_t *dash_db_open(const char *conninfo, int size, int timeout_ms, char *err, size_t errsize)
{
    dash_db_t *db = calloc(1, sizeof *db);
    if (db == NULL || (db->conninfo = strdup(conninfo)) == NULL) {
        free(db);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    db->size = size < 1 ? 1 : size > DASH_DB_MAX ? DASH_DB_MAX : size;
    db->timeout_ms = timeout_ms;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->freed, NULL);
    db->slot[0].conn = dash_db_connect(db, err, errsize);
    if (db->slot[0].conn == NULL) {
        dash_db_close(db);
        return NULL;
    }
    return db;
}

/* Take a free slot, waiting up to DASH_DB_WAIT_SEC. Returns it or NULL. */
static dash_slot_t *dash_db_take(dash_db_t *db)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DASH_DB_WAIT_SEC;
    dash_slot_t *s = NULL;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        for (int i = 0; i < db->size && s == NULL; i++)
            if (!db->slot[i].busy) s = &db->slot[i];
        if (s) {
            s->busy = 1;
            break;
        }
        if (pthread_cond_timedwait(&db->freed, &db->mu, &until) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&db->mu);
    return s;
}

static void dash_db_give(dash_db_t *db, dash_slot_t *s)
{
    pthread_mutex_lock(&db->mu);
    s->busy = 0;
    pthread_cond_signal(&db->freed);
    pthread_mutex_unlock(&db->mu);
}

/* Make s's connection usable. Returns 0 or -1 with err. */
static int dash_db_ready(dash_db_t *db, dash_slot_t *s, char *err, size_t errsize)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) return 0;
    if (s->conn) PQfinish(s->conn);
    s->conn = dash_db_connect(db, err, errsize);
    return s->conn ? 0 : -1;
}

int dash_db_json(dash_db_t *db, const char *sql, int nparams, const char *const *params,
                 char **json, size_t *len, char *err, size_t errsize)
{
    *json = NULL;
    dash_slot_t *s = dash_db_take(db);
    if (s == NULL) {
        snprintf(err, errsize, "every database connection stayed busy for %d s", DASH_DB_WAIT_SEC);
        return DASH_DB_EDOWN;
    }
    int rc = DASH_DB_EDOWN;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (dash_db_ready(db, s, err, errsize) != 0) {
            rc = DASH_DB_EDOWN;
            break;
        }
        PGresult *r = PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1) {
            const char *v = PQgetisnull(r, 0, 0) ? "null" : PQgetvalue(r, 0, 0);
            size_t n = strlen(v);
            *json = malloc(n + 1);
            if (*json) {
                memcpy(*json, v, n + 1);
                *len = n;
                rc = 0;
            } else {
                snprintf(err, errsize, "out of memory");
                rc = DASH_DB_EQUERY;
            }
            PQclear(r);
            break;
        }
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int broken = PQstatus(s->conn) != CONNECTION_OK;
        if (state && (!strcmp(state, "42P01") || !strcmp(state, "42883")))
            rc = DASH_DB_EMISSING;
        else
            rc = broken ? DASH_DB_EDOWN : DASH_DB_EQUERY;
        one_line(err, errsize, "query failed", PQresultErrorMessage(r));
        PQclear(r);
        if (!broken) break; /* only a lost connection is worth one retry */
    }
    dash_db_give(db, s);
    return rc;
}

void dash_db_close(dash_db_t *db)
{
    if (db == NULL) return;
    for (int i = 0; i < DASH_DB_MAX; i++)
        if (db->slot[i].conn) PQfinish(db->slot[i].conn);
    pthread_cond_destroy(&db->freed);
    pthread_mutex_destroy(&db->mu);
    free(db->conninfo);
    free(db);
}
