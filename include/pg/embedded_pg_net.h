/* embedded_pg_net.h - the embedded cluster on the network: which addresses
 * it listens on, which client networks may log in, and the login role
 * those clients use (`bankstream db start --listen ADDR --trust NETS`).
 *
 * Invariants:
 *   1. 127.0.0.1 always listens and loopback is trusted (no password): the
 *      local tools and tests use it as before.
 *   2. Every other network logs in with a password only (scram-sha-256), as
 *      role EMBEDDED_PG_NET_ROLE, which owns database "bank" and nothing
 *      else: no SUPERUSER, CREATEDB or CREATEROLE. `postgres` has no
 *      password, so it cannot log in from the network at all.
 *   3. The password lives in DIR/pgpass (mode 0600, the ~/.pgpass format
 *      "*:PORT:*:ROLE:PASSWORD"), made on the first start that listens
 *      beyond loopback and kept from then on; never on a command line.
 *   4. The choice is recorded in DIR/network and kept by later starts that
 *      do not give --listen, as the port is.
 *
 * Everything here but pgnet_ensure_role is local (files, sockets,
 * interfaces); pgnet_ensure_role talks to the running server. */
#ifndef BS_EMBEDDED_PG_NET_H
#define BS_EMBEDDED_PG_NET_H

#include <libpq-fe.h>
#include <stddef.h>

#define EMBEDDED_PG_NET_ROLE "bankstream"

typedef struct pgnet {
    char listen[512]; /* addresses beyond 127.0.0.1, comma-separated; "" = loopback only; "*" = all
                       */
    char trust[1024]; /* client networks (CIDR), comma-separated, that log in with a password */
} pgnet_t;

/* Read DIR/network into net ({"", ""} when there is none). Returns 0, or -1
 * with errstr when the file exists and cannot be read or parsed. */
int pgnet_load(const char *dir, pgnet_t *net, char *errstr, size_t errsize);

/* Write net to DIR/network (atomically). Returns 0 or -1 with errstr. */
int pgnet_save(const char *dir, const pgnet_t *net, char *errstr, size_t errsize);

/* The settings for a start: listen NULL keeps `recorded` (trust too, unless
 * given); otherwise "127.0.0.1", "localhost" or "" mean loopback only, and
 * "ADDR[,ADDR...]" (numeric IPv4 or IPv6 addresses of this host, or "*")
 * listen there too. trust NULL means the networks of the interfaces that
 * hold the listen addresses ("*" then needs --trust). Each trust entry is
 * NET/PREFIX or a single address. Returns 0 with *out filled, or -1 with
 * errstr naming the bad value. */
int pgnet_resolve(const char *listen, const char *trust, const pgnet_t *recorded, pgnet_t *out,
                  char *errstr, size_t errsize);

/* listen_addresses for postgresql.conf: "127.0.0.1" followed by net's. */
void pgnet_listen_addresses(const pgnet_t *net, char *out, size_t size);

/* The text of pg_hba.conf for net (invariants 1 and 2). Returns 0, or -1
 * when it does not fit. */
int pgnet_hba(const pgnet_t *net, char *out, size_t size);

/* 1 when net listens beyond loopback, else 0. */
int pgnet_remote(const pgnet_t *net);

/* Check that port can be bound on every address of net beyond loopback.
 * Returns 1 when it can, 0 (errstr) when an address is in use or not an
 * address of this host, -1 (errstr) on other errors. */
int pgnet_check_bind(const pgnet_t *net, int port, char *errstr, size_t errsize);

/* The conninfo clients on the network use: the first listen address (for
 * "*", this host's name), port, dbname=bank, user=EMBEDDED_PG_NET_ROLE. */
void pgnet_conninfo(const pgnet_t *net, int port, char *out, size_t size);

/* With a superuser connection to the running cluster: create (or update)
 * EMBEDDED_PG_NET_ROLE with the password of DIR/pgpass (made when missing:
 * 32 random hex digits), rewrite DIR/pgpass for port, and make the role the
 * owner of database `dbname`. passfile receives DIR/pgpass. Returns 0 or -1
 * with errstr (then nothing is half-made that a second call would not
 * finish). */
int pgnet_ensure_role(PGconn *admin, const char *dir, int port, const char *dbname, char *passfile,
                      size_t passfile_size, char *errstr, size_t errsize);

#endif
