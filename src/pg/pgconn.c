/* pgconn.c - find and open the PostgreSQL database bankstream talks to.
 *
 * Every command resolves its database the same way (see pgconn.h), so that
 * `bankstream init`, `produce` and `run` with no flags all meet in the
 * embedded cluster, which is started on first use. */
#include "pg/pgconn.h"
#include "pg/embedded_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pgconn_env_set(void)
{
    static const char *const vars[] = {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

int pgconn_resolve(const char *flag_conninfo, char *out, size_t outsize, char *errstr,
                   size_t errsize)
{
    if (outsize == 0) {
        snprintf(errstr, errsize, "no room for the conninfo");
        return -1;
    }
    if (flag_conninfo) {
        if ((size_t)snprintf(out, outsize, "%s", flag_conninfo) >= outsize) {
            snprintf(errstr, errsize, "--pg conninfo too long (%zu bytes at most)", outsize - 1);
            return -1;
        }
        return 0;
    }
    if (pgconn_env_set()) {
        out[0] = '\0';
        return 0;
    }
    const char *dir = embedded_pg_default_dir();
    char err[1024];
    if (embedded_pg_start(dir, 0, out, outsize, err, sizeof err) != EMBEDDED_PG_OK) {
        snprintf(errstr, errsize,
                 "no --pg or PG* environment given and the embedded PostgreSQL under %s could "
                 "not be started: %s",
                 dir, err);
        return -1;
    }
    return 0;
}

/* Copy a libpq message into out as one line (newlines become "; "). */
static void pgconn_one_line(const char *msg, char *out, size_t size)
{
    size_t k = 0;
    for (const char *p = msg; *p && k + 3 < size; p++) {
        if (*p == '\n') {
            if (p[1] == '\0') break;
            out[k++] = ';';
            out[k++] = ' ';
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
}

PGconn *pgconn_open(const char *conninfo, char *errstr, size_t errsize)
{
    /* expand_dbname: conninfo may be "k=v ..." or a postgresql:// URI; the
     * empty conninfo falls back to the PG* environment. */
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {conninfo ? conninfo : "", "bankstream", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL) {
        snprintf(errstr, errsize, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }
    if (PQstatus(conn) == CONNECTION_OK) return conn;

    char msg[768];
    pgconn_one_line(PQerrorMessage(conn), msg, sizeof msg);
    const char *host = PQhost(conn), *port = PQport(conn), *db = PQdb(conn);
    snprintf(errstr, errsize,
             "cannot connect to PostgreSQL at host=%s port=%s dbname=%s: %s; start it with "
             "'bankstream db start' or pass --pg",
             host && *host ? host : "(default)", port && *port ? port : "(default)",
             db && *db ? db : "(default)", msg);
    PQfinish(conn);
    return NULL;
}
