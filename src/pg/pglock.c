/* pglock.c - the one-processor-per-database lock and the slice sessions'
 * fence (see pglock.h).
 *
 * An int8 advisory lock shows in pg_locks as classid = key >> 32, objid =
 * key & 0xffffffff, objsubid = 1, in the row of its database; its holder's
 * name, address and start come from pg_stat_activity (which hides them
 * from roles without pg_read_all_stats: they then read '?'). */
#include "pg/pglock.h"
#include "pg/pgconn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGLOCK_STR_(x) #x
#define PGLOCK_STR(x)  PGLOCK_STR_(x)

/* The keys' halves as pg_locks shows them. */
#define PGLOCK_CLASSID       1650552427
#define PGLOCK_OBJID         1937011309
#define PGLOCK_FENCE_CLASSID 1650552427
#define PGLOCK_FENCE_OBJID   1717923427
_Static_assert(PGLOCK_KEY >> 32 == PGLOCK_CLASSID, "classid is the key's high half");
_Static_assert((PGLOCK_KEY & 0xffffffff) == PGLOCK_OBJID, "objid is the key's low half");
_Static_assert(PGLOCK_FENCE_KEY >> 32 == PGLOCK_FENCE_CLASSID, "the fence's high half");
_Static_assert((PGLOCK_FENCE_KEY & 0xffffffff) == PGLOCK_FENCE_OBJID, "the fence's low half");

#define PGLOCK_CLASSID_SQL PGLOCK_STR(PGLOCK_CLASSID)
#define PGLOCK_OBJID_SQL   PGLOCK_STR(PGLOCK_OBJID)

/* The lock's row of pg_locks in this database (alias l). */
#define PGLOCK_ROW                                                                                 \
    "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"                                     \
    " AND l.classid = " PGLOCK_CLASSID_SQL " AND l.objid = " PGLOCK_OBJID_SQL                      \
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"

/* The fence's rows of pg_locks in this database (alias l). */
#define PGLOCK_FENCE_ROWS                                                                          \
    "l.locktype = 'advisory' AND l.objsubid = 1"                                                   \
    " AND l.classid = " PGLOCK_STR(PGLOCK_FENCE_CLASSID) " AND l.objid = " PGLOCK_STR(             \
        PGLOCK_FENCE_OBJID) " AND l.database = (SELECT oid FROM pg_database"                       \
                            " WHERE datname = current_database())"

const char *pglock_held_sql(void)
{
    return "EXISTS (SELECT 1 FROM pg_locks l WHERE " PGLOCK_ROW " AND l.pid = pg_backend_pid())";
}

void pglock_held_by_sql(int pid, char *out, size_t outsize)
{
    snprintf(out, outsize, "EXISTS (SELECT 1 FROM pg_locks l WHERE " PGLOCK_ROW " AND l.pid = %d)",
             pid);
}

int pglock_holder(PGconn *conn, char *holder, size_t holdersize, int *pid, char *errstr,
                  size_t errsize)
{
    static const char sql[] =
        "SELECT l.pid, coalesce(a.application_name, ''),"
        " CASE WHEN a.client_port = -1 THEN 'a local socket'"
        "      WHEN a.client_addr IS NOT NULL"
        "      THEN coalesce(a.client_hostname, host(a.client_addr)) || ':' || a.client_port"
        "      ELSE '?' END,"
        " coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC',"
        "          '?'),"
        " current_database()"
        " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE " PGLOCK_ROW " AND l.pid <> pg_backend_pid() ORDER BY l.pid LIMIT 1";
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(conn, r, "reading who holds the processor lock (pg_locks) failed", errstr,
                     errsize);
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    const char *app = PQgetvalue(r, 0, 1);
    static const char run_prefix[] = "bankstream run ";
    char topic[300] = "";
    if (strncmp(app, run_prefix, sizeof run_prefix - 1) == 0)
        snprintf(topic, sizeof topic, "topic %s; ", app + sizeof run_prefix - 1);
    if (pid) *pid = atoi(PQgetvalue(r, 0, 0));
    snprintf(holder, holdersize,
             "database \"%s\" is in use by '%s' (%sPostgreSQL backend pid %s, client %s, "
             "connected since %s)",
             PQgetvalue(r, 0, 4), *app ? app : "a session without application_name", topic,
             PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    PQclear(r);
    return 1;
}

int pglock_take(PGconn *conn, int xact, char *holder, size_t holdersize, int *holder_pid,
                char *errstr, size_t errsize)
{
    const char *sql = xact ? "SELECT pg_try_advisory_xact_lock(" PGLOCK_STR(PGLOCK_KEY) ")"
                           : "SELECT pg_try_advisory_lock(" PGLOCK_STR(PGLOCK_KEY) ")";
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(conn, r, "taking the processor lock failed", errstr, errsize);
        PQclear(r);
        return PGLOCK_ERROR;
    }
    int taken = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (taken) return PGLOCK_TAKEN;
    int pid = 0;
    int seen = pglock_holder(conn, holder, holdersize, &pid, errstr, errsize);
    if (seen < 0) return PGLOCK_ERROR;
    if (seen == 0) /* it ended between the two statements */
        snprintf(holder, holdersize,
                 "the database is in use by another session, which ended just now; try again");
    if (holder_pid) *holder_pid = pid;
    return PGLOCK_BUSY;
}

/* The first row, first column of sql as a boolean: 1, 0, or -1 with errstr. */
static int query_bool(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      const char *what, char *errstr, size_t errsize)
{
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        pgconn_error(conn, r, what, errstr, errsize);
    else
        rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return rc;
}

int pglock_fence_take(PGconn *conn, char *holders, size_t holderssize, char *errstr, size_t errsize)
{
    int got = query_bool(conn, "SELECT pg_try_advisory_lock(" PGLOCK_STR(PGLOCK_FENCE_KEY) ")", 0,
                         NULL, "taking the slice sessions' fence failed", errstr, errsize);
    if (got < 0) return PGLOCK_ERROR;
    if (got) return PGLOCK_TAKEN;
    PGresult *r =
        PQexec(conn, "SELECT coalesce(string_agg(l.pid || coalesce(' (' ||"
                     " a.application_name || ')', ''), ', ' ORDER BY l.pid), '?')"
                     " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                     " WHERE l.granted AND " PGLOCK_FENCE_ROWS " AND l.pid <> pg_backend_pid()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        pgconn_error(conn, r, "reading who holds the slice sessions' fence failed", errstr,
                     errsize);
        PQclear(r);
        return PGLOCK_ERROR;
    }
    snprintf(holders, holderssize, "backend pids %s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return PGLOCK_BUSY;
}

int pglock_fence_release(PGconn *conn, char *errstr, size_t errsize)
{
    int done = query_bool(conn, "SELECT pg_advisory_unlock(" PGLOCK_STR(PGLOCK_FENCE_KEY) ")", 0,
                          NULL, "releasing the slice sessions' fence failed", errstr, errsize);
    if (done == 0) snprintf(errstr, errsize, "the slice sessions' fence was not held");
    return done == 1 ? 0 : -1;
}

int pglock_fence_join(PGconn *conn, int lock_pid, char *errstr, size_t errsize)
{
    int got =
        query_bool(conn, "SELECT pg_try_advisory_lock_shared(" PGLOCK_STR(PGLOCK_FENCE_KEY) ")", 0,
                   NULL, "joining the slice sessions' fence failed", errstr, errsize);
    if (got < 0) return PGLOCK_ERROR;
    if (got == 0) {
        snprintf(errstr, errsize,
                 "the slice sessions' fence is held by a session resolving prepared "
                 "transactions (another processor, or 'bankstream init')");
        return PGLOCK_BUSY;
    }
    char pid[16];
    snprintf(pid, sizeof pid, "%d", lock_pid);
    const char *params[1] = {pid};
    int held = query_bool(
        conn, "SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE " PGLOCK_ROW " AND l.pid = $1::int)",
        1, params, "checking the processor lock from a slice session failed", errstr, errsize);
    if (held < 0) return PGLOCK_ERROR;
    if (held == 0) {
        snprintf(errstr, errsize,
                 "this processor's session (backend pid %d) no longer holds the processor lock",
                 lock_pid);
        return PGLOCK_BUSY;
    }
    return PGLOCK_TAKEN;
}
