/* dash_db.h - the dashboard's PostgreSQL connections: a small pool, each
 * query one JSON value computed by the server.
 *
 * Every connection is set up read-only (default_transaction_read_only), with
 * a statement_timeout, application_name 'bankstream dashboard' and the UTC
 * zone, so that a query can neither write nor run long, whatever the role.
 * Connections are opened on first use and reset once when the server went
 * away. Any thread may call dash_db_json; at most `size` queries run at once,
 * the others wait for a free connection (up to the timeout). */
#ifndef BS_DASH_DB_H
#define BS_DASH_DB_H

#include <stddef.h>

/* Returns of dash_db_json besides 0. */
#define DASH_DB_EQUERY   (-1) /* the query failed (message in err) */
#define DASH_DB_EDOWN    (-2) /* no connection could be had (message in err) */
#define DASH_DB_EMISSING (-3) /* a relation is missing: the schema is older (err says) */

typedef struct dash_db dash_db_t;

/* A pool of size (1..16) connections to conninfo, each statement bounded by
 * timeout_ms. Connects one connection now to check the server; returns the
 * pool, or NULL with err (the server refused or is unreachable). */
dash_db_t *dash_db_open(const char *conninfo, int size, int timeout_ms, char *err, size_t errsize);

/* Run sql (one row, one column: a JSON text) with nparams text parameters
 * bound by PQexecParams. Returns 0 with *json (malloc'ed, the caller frees)
 * and *len, or DASH_DB_* with err filled and *json NULL. */
int dash_db_json(dash_db_t *db, const char *sql, int nparams, const char *const *params,
                 char **json, size_t *len, char *err, size_t errsize);

/* Close every connection and free. NULL-safe; no query may be running. */
void dash_db_close(dash_db_t *db);

#endif
