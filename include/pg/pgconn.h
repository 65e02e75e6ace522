/* pgconn.h - find and open the PostgreSQL database bankstream talks to.
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

/* Resolve the conninfo into out. Returns 0, or -1 with errstr filled (for
 * example when the embedded cluster cannot be started). */
int pgconn_resolve(const char *flag_conninfo, char *out, size_t outsize, char *errstr,
                   size_t errsize);

/* Connect; returns a connection or NULL with errstr naming the server and the
 * libpq message. The caller PQfinish()es the connection. */
PGconn *pgconn_open(const char *conninfo, char *errstr, size_t errsize);

#endif
