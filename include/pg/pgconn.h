/* pgconn.h - find and open the PostgreSQL database bankstream talks to, and
 * turn its errors into one line.
 *
 * Resolution order, the same for every command:
 *   1. --pg CONNINFO given on the command line: used as is;
 *   2. otherwise, if any of PGHOST PGHOSTADDR PGPORT PGDATABASE PGSERVICE is
 *      set: the empty conninfo, so libpq reads the PG* environment;
 *   3. otherwise the embedded cluster under $BANKSTREAM_PGDIR (default
 *      ./var/pg), started on demand (see embedded_pg.h). */
#ifndef BS_PGCONN_H
#define BS_PGCONN_H

#include <libpq-fe.h>
#include <stddef.h>

/* How long commands wait for a database that is down or starting up, by default. */
#define PGCONN_WAIT_SECONDS 60

/* The first connection attempt of a wait gives up after this many seconds
 * (then the wait is reported and goes on with longer attempts). */
#define PGCONN_FIRST_TRY_SECONDS 3

/* Resolve the conninfo into out. Returns 0, or -1 with errstr filled (for
 * example when the embedded cluster cannot be started). */
int pgconn_resolve(const char *flag_conninfo, char *out, size_t outsize, char *errstr,
                   size_t errsize);

/* 1 when pgconn_resolve(flag_conninfo) means the embedded cluster (no
 * conninfo given and none of the PG* variables above set), else 0. */
int pgconn_resolves_embedded(const char *flag_conninfo);

/* Connect once (bounded by a connect_timeout of 10 s unless the conninfo or
 * PGCONNECT_TIMEOUT sets one); returns a connection or NULL with errstr
 * naming the server and the libpq message. The caller PQfinish()es the
 * connection. */
PGconn *pgconn_open(const char *conninfo, char *errstr, size_t errsize);

/* Connect, waiting up to wait_seconds for a server that is unreachable or
 * starting up (libpq's PQping says no response, or that it rejects
 * connections for now), with backoff up to 2 s between attempts. Logs a
 * warning naming host:port and libpq's reason when the wait starts, one
 * about every 10 s while it lasts and one when connected. A server that
 * answers and refuses (authentication, no such database, bad options) fails
 * at once. Returns the connection, or NULL with errstr as pgconn_open's
 * (plus how long it waited, and what to check: the embedded cluster for a
 * server on this machine, the network for one elsewhere). Each attempt is
 * bounded by a connect_timeout (PGCONN_FIRST_TRY_SECONDS for the first, then
 * 2 to 10 s; 10 s for pgconn_open) unless the conninfo or PGCONNECT_TIMEOUT
 * sets one. wait_seconds 0 is pgconn_open. */
PGconn *pgconn_open_wait(const char *conninfo, int wait_seconds, char *errstr, size_t errsize);

/* Describe a failure as one line in errstr: "<what>: <message>", the
 * message being res's primary message and hint, else the connection's
 * (res may be NULL). */
void pgconn_error(PGconn *conn, const PGresult *res, const char *what, char *errstr,
                  size_t errsize);

/* Roll back conn's open transaction, if it has one and the session is
 * alive (conn may be NULL); a failure is ignored: the session is then gone,
 * and its transaction with it. For cleanup after an error. */
void pgconn_rollback(PGconn *conn);

/* Name the session in pg_stat_activity (application_name) for as long as
 * it lives. 0, or -1 with errstr. */
int pgconn_set_application_name(PGconn *conn, const char *name, char *errstr, size_t errsize);

/* Run sql (one or several statements). Returns 0, or -1 with errstr
 * "<what> failed: <message>" (what NULL: the SQL's first 80 characters). */
int pgconn_exec(PGconn *conn, const char *sql, const char *what, char *errstr, size_t errsize);

#endif
