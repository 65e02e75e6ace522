/* embedded_pg.h - a private PostgreSQL 15 cluster under a directory.
 *
 * Layout of DIR (created on first start):
 *   DIR/data/      the cluster (initdb), owned by `postgres` when run as root
 *   DIR/log/       postgresql.log (server), initdb.log
 *   DIR/conninfo   one line: "host=127.0.0.1 port=P dbname=bank user=postgres"
 *   DIR/network    the listen addresses and trusted networks (embedded_pg_net.h)
 *   DIR/pgpass     the network role's password, mode 0600 (when listening
 *                  beyond loopback)
 *   DIR/lock       flock()ed while a start or stop is under way
 *   DIR/.s.PGSQL.P the Unix socket (the server listens on 127.0.0.1, and on the
 *                  addresses of `db start --listen`: embedded_pg_net.h)
 *
 * Invariants:
 *   1. The server runs as the invoking user, or as `postgres` when that is
 *      root (PostgreSQL refuses root); every directory above DIR must then be
 *      traversable by postgres.
 *   2. Starts and stops under one DIR are serialized by DIR/lock, so several
 *      processes (MPI ranks) may ask for the cluster at the same time.
 *   3. Running means: DIR/data/postmaster.pid names a live process and the
 *      server answers on its port.
 *   4. The port is the --port given, else the one in DIR/conninfo, else
 *      EMBEDDED_PG_DEFAULT_PORT; a running cluster is reused on its port.
 *
 * Server binaries: $BANKSTREAM_PG_BINDIR, else /usr/lib/postgresql/15/bin. */
#ifndef BS_EMBEDDED_PG_H
#define BS_EMBEDDED_PG_H

#include <stddef.h>

#define EMBEDDED_PG_DEFAULT_PORT 55432
#define EMBEDDED_PG_DEFAULT_DIR  "./var/pg"
#define EMBEDDED_PG_DBNAME       "bank"

enum embedded_pg_rc {
    EMBEDDED_PG_OK = 0,
    EMBEDDED_PG_ERR = -1,       /* errstr says what failed */
    EMBEDDED_PG_PORT_BUSY = -2, /* the port is taken by another program */
};

/* How clients on other hosts reach a cluster that listens beyond loopback
 * (all fields "" when it does not). */
typedef struct embedded_pg_remote {
    char conninfo[256];  /* "host=ADDR port=P dbname=bank user=bankstream" */
    char passfile[4096]; /* DIR/pgpass: the role's password, ~/.pgpass format */
    char trust[1024];    /* the networks that may log in with it */
} embedded_pg_remote_t;

/* The cluster directory to use when none is given: $BANKSTREAM_PGDIR if set
 * and not empty, else EMBEDDED_PG_DEFAULT_DIR. Never NULL. */
const char *embedded_pg_default_dir(void);

/* Start the cluster under dir (initdb first if needed), or reuse it if it is
 * already running; then make sure database "bank" exists and write
 * DIR/conninfo. port 0 means "as before, else the default" (invariant 4); a
 * nonzero port that differs from the running cluster's is an error.
 * On success fills conninfo ("host=127.0.0.1 port=P dbname=bank
 * user=postgres") and returns EMBEDDED_PG_OK; otherwise returns an
 * embedded_pg_rc with errstr filled. A failed start leaves no server running
 * that this call started. Blocks until the server accepts connections. */
int embedded_pg_start(const char *dir, int port, char *conninfo, size_t conninfo_size, char *errstr,
                      size_t errsize);

/* embedded_pg_start, also choosing where the server listens and which
 * networks log in with a password (embedded_pg_net.h: pgnet_resolve says
 * what listen and trust accept; NULL keeps the previous start's choice). A
 * running cluster gets the new networks at once (pg_hba.conf reloaded); new
 * listen addresses need it stopped first (errstr says so). When the
 * cluster listens beyond loopback, the network role is created or updated
 * and remote (if not NULL) receives how other hosts reach it; conninfo stays
 * the loopback one. */
int embedded_pg_start_net(const char *dir, int port, const char *listen, const char *trust,
                          char *conninfo, size_t conninfo_size, embedded_pg_remote_t *remote,
                          char *errstr, size_t errsize);

/* Stop the cluster under dir (fast mode: sessions are cancelled, data is
 * flushed) and wait for it to exit. Returns 1 if it was running and is now
 * stopped, 0 if it was not running, -1 with errstr filled. */
int embedded_pg_stop(const char *dir, char *errstr, size_t errsize);

/* Returns 1 if the cluster under dir is running, 0 if not (also when dir
 * holds no cluster), -1 with errstr filled. conninfo, if not NULL, receives
 * the conninfo of DIR/conninfo, or "" when there is none; remote, if not
 * NULL, how other hosts reach it (as embedded_pg_start_net fills it). */
int embedded_pg_status(const char *dir, char *conninfo, size_t conninfo_size,
                       embedded_pg_remote_t *remote, char *errstr, size_t errsize);

#endif
