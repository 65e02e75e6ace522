/* produce_users.h - what `bankstream produce` reads from PostgreSQL before it
 * starts: the users the generator draws from, and whether transacoes already
 * holds rows (which decides the --historic default). The original's producer
 * runs the same two queries (../shared/SYSTEM.md). */
#ifndef BS_PRODUCE_USERS_H
#define BS_PRODUCE_USERS_H

#include "base/txgen.h"

#include <stddef.h>

/* Connect (pgconn.h: --pg, else PG*, else the embedded cluster), read
 * usuarios ordered by id (a NULL saldo counts as 0), count the rows of
 * transacoes into *n_txns unless n_txns is NULL (no such table counts 0),
 * disconnect. Returns 0 with *users (the caller frees it) and *n_users >= 2,
 * or -1 with errstr filled and nothing allocated; fewer than 2 users or no
 * usuarios table is an error that says to run 'bankstream init'. */
int produce_users_read(const char *flag_conninfo, txgen_user_t **users, size_t *n_users,
                       long long *n_txns, char *errstr, size_t errsize);

#endif
