/* loader.h - fill the workers' shards from PostgreSQL (rank 0 reads and
 * drives; the other ranks serve the commands in cluster_serve).
 *
 * loader_users:  every row of usuarios, each to its owner (the opening state);
 * loader_deltas: the ledger of approved transactions of the batches after
 *                after_batch, as per-user balance deltas and last approved times.
 * Both return 0, or -1 with errstr (database or MPI failure, out of memory). */
#ifndef BS_LOADER_H
#define BS_LOADER_H

#include "cluster/cluster.h"
#include <libpq-fe.h>

#include <stddef.h>
#include <stdint.h>

int loader_users(cluster_t *c, PGconn *db, char *errstr, size_t errsize);
int loader_deltas(cluster_t *c, PGconn *db, int64_t after_batch, char *errstr, size_t errsize);

#endif
