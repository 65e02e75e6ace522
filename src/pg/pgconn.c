/* pgconn.c - find and open the PostgreSQL database bankstream talks to.
 *
 * Every command resolves its database the same way (see pgconn.h), so that
 * `bankstream init`, `produce` and `run` with no flags all meet in the
 * embedded cluster, which is started on first use. A server that is down or
 * starting up is waited for (pgconn_open_wait); whether a failed connection
 * is worth waiting for is libpq's PQping verdict: no response, or "not
 * accepting connections yet", is; a server that answered and refused
 * (authentication, a missing database) is not. */
#include "pg/pgconn.h"
#include "base/log.h"
#include "pg/embedded_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int pgconn_env_set(void)
{
    static const char *const vars[] = {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

int pgconn_resolves_embedded(const char *flag_conninfo)
{
    return flag_conninfo == NULL && !pgconn_env_set();
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
            while (p[1] == ' ' || p[1] == '\t')
                p++;
            if (p[1] == '\0') break;
            out[k++] = ';';
            out[k++] = ' ';
        } else {
            out[k++] = *p == '\t' ? ' ' : *p;
        }
    }
    if (size > 0) out[k] = '\0';
}

void pgconn_error(PGconn *conn, const PGresult *res, const char *what, char *errstr, size_t errsize)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    char line[2048];
    snprintf(line, sizeof line, "%s: %s%s%s%s", what, msg ? msg : PQerrorMessage(conn),
             hint ? " (hint: " : "", hint ? hint : "", hint ? ")" : "");
    pgconn_one_line(line, errstr, errsize);
}

int pgconn_exec(PGconn *conn, const char *sql, const char *what, char *errstr, size_t errsize)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0) {
        char head[320];
        if (what)
            snprintf(head, sizeof head, "%s failed", what);
        else
            snprintf(head, sizeof head, "%.80s failed", sql);
        pgconn_error(conn, res, head, errstr, errsize);
    }
    PQclear(res);
    return rc;
}

void pgconn_rollback(PGconn *conn)
{
    if (conn && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        char ignored[256];
        pgconn_exec(conn, "ROLLBACK", NULL, ignored, sizeof ignored);
    }
}

int pgconn_set_application_name(PGconn *conn, const char *name, char *errstr, size_t errsize)
{
    const char *params[1] = {name};
    PGresult *r = PQexecParams(conn, "SELECT set_config('application_name', $1, false)", 1, NULL,
                               params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc) pgconn_error(conn, r, "setting application_name failed", errstr, errsize);
    PQclear(r);
    return rc;
}

static double pgconn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

PGconn *pgconn_open(const char *conninfo, char *errstr, size_t errsize)
{
    return pgconn_open_wait(conninfo, 0, errstr, errsize);
}

/* Whether host names this machine (where 'bankstream db start' helps). */
static int pgconn_local_host(const char *host)
{
    return host[0] == '/' || host[0] == '@' || !strcmp(host, "(default)") ||
           !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

PGconn *pgconn_open_wait(const char *conninfo, int wait_seconds, char *errstr, size_t errsize)
{
    /* expand_dbname: conninfo may be "k=v ..." or a postgresql:// URI; the
     * empty conninfo falls back to the PG* environment. Keywords apply in
     * order, so a connect_timeout in the conninfo overrides the one before
     * it, which is left out when PGCONNECT_TIMEOUT is set. Each attempt is
     * bounded (a server behind a network that drops packets would otherwise
     * hold connect() for minutes): the first one by PGCONN_FIRST_TRY_SECONDS,
     * so that a wait is reported within seconds, later ones by half of what
     * is left of the wait (2 to 10 s; libpq's minimum is 2). */
    const char *env_timeout = getenv("PGCONNECT_TIMEOUT");
    int own_timeout = !(env_timeout && *env_timeout);
    char tmo[16] = "10";
    const char *keys[] = {"connect_timeout", "dbname", "fallback_application_name", NULL};
    const char *vals[] = {tmo, conninfo ? conninfo : "", "bankstream", NULL};
    const char *const *k = keys + !own_timeout, *const *v = vals + !own_timeout;
    double t0 = pgconn_now(), next_note = 0;
    unsigned backoff_ms = 100;
    int waiting = 0, answered = 0;
    for (;;) {
        double left = wait_seconds - (pgconn_now() - t0);
        int t = !waiting ? PGCONN_FIRST_TRY_SECONDS : (int)(left / 2);
        if (wait_seconds <= 0) t = 10;
        t = t < 2 ? 2 : t > 10 ? 10 : t;
        snprintf(tmo, sizeof tmo, "%d", t);
        double tried = pgconn_now();
        PGconn *conn = PQconnectdbParams(k, v, 1);
        tried = pgconn_now() - tried;
        if (conn == NULL) {
            snprintf(errstr, errsize, "cannot connect to PostgreSQL: out of memory");
            return NULL;
        }
        const char *host = PQhost(conn), *port = PQport(conn), *db = PQdb(conn);
        host = host && *host ? host : "(default)";
        port = port && *port ? port : "(default)";
        if (PQstatus(conn) == CONNECTION_OK) {
            if (waiting)
                log_warn("connected to PostgreSQL at %s:%s after %.1f s", host, port,
                         pgconn_now() - t0);
            return conn;
        }
        /* An attempt that ran into our timeout had no answer: asking PQping
         * would only wait as long again. */
        PGPing ping = wait_seconds <= 0                  ? PQPING_NO_ATTEMPT
                      : own_timeout && tried >= t - 0.25 ? PQPING_NO_RESPONSE
                                                         : PQpingParams(k, v, 1);
        if (ping == PQPING_OK && !answered) {
            /* It answers now: it may just have come up. One more try. */
            answered = 1;
            PQfinish(conn);
            continue;
        }
        answered = 0;
        double waited = pgconn_now() - t0;
        int transient = ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT;
        char reason[768];
        pgconn_one_line(PQerrorMessage(conn), reason, sizeof reason);
        if (!transient || waited >= wait_seconds) {
            char waited_for[48] = "";
            if (waiting) snprintf(waited_for, sizeof waited_for, "waited %.0f s; ", waited);
            const char *hint = ping == PQPING_OK ? ""
                               : pgconn_local_host(host)
                                   ? "start it with 'bankstream db start' or pass --pg"
                                   : "check that this host reaches it (routes, firewall) and that "
                                     "the server listens there and lets this host in ('bankstream "
                                     "db start --listen ADDR --trust NET' for the embedded one)";
            snprintf(errstr, errsize,
                     "cannot connect to PostgreSQL at host=%s port=%s dbname=%s: %s%s%s%s", host,
                     port, db && *db ? db : "(default)", reason, ping == PQPING_OK ? "" : "; ",
                     waited_for, hint);
            PQfinish(conn);
            return NULL;
        }
        if (!waiting)
            log_warn("PostgreSQL at %s:%s is not available (%s); waiting up to %d s for it", host,
                     port, reason, wait_seconds);
        else if (waited >= next_note)
            log_warn("still waiting for PostgreSQL at %s:%s after %.0f s (%s)", host, port, waited,
                     reason);
        if (!waiting || waited >= next_note) next_note = waited + 10;
        waiting = 1;
        PQfinish(conn);
        double left_ms = (wait_seconds - waited) * 1000;
        unsigned ms = left_ms < backoff_ms ? (unsigned)left_ms + 1 : backoff_ms;
        struct timespec nap = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&nap, NULL);
        backoff_ms = backoff_ms < 1000 ? backoff_ms * 2 : 2000;
    }
}
