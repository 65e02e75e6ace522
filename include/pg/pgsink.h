/* pgsink.h - PostgreSQL side of the processor: the exactly-once batch
 * commit, and the recovery reads as calls into pgstate.h on the sink's
 * connection and topic.
 *
 * Exactly-once rests on one invariant: a batch's rows (transacoes,
 * transacoes_scores, transacoes_duplicadas, dead_letters) and its batch_log
 * row, holding the per-partition end offsets, commit in ONE transaction. On
 * start the processor reads the newest batch_log row and resumes Kafka there,
 * and rebuilds state from the ledger of committed rows. A commit that fails
 * because the server went away is retried (reconnecting, with backoff) for
 * retry_seconds; before each retry the batch_log is consulted, since a lost
 * COMMIT reply may hide a commit that happened. */
#ifndef BS_PGSINK_H
#define BS_PGSINK_H

#include "stream/batch.h"
#include "engine/user.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pgsink pgsink_t;

/* Connect. Returns the sink or NULL with errstr. */
pgsink_t *pgsink_open(const char *conninfo, int64_t retry_seconds, const char *topic, char *errstr,
                      size_t errsize);
void pgsink_close(pgsink_t *s);

/* The newest committed batch id of the database (*batch_id, 0 when none),
 * and the end offsets of the newest batch of this sink's topic, written into
 * end_offsets[0..max_parts) (missing partitions = -1) with their count in
 * *nparts. Returns 0 or -1 with errstr. */
int pgsink_last_batch(pgsink_t *s, int64_t *batch_id, int64_t *end_offsets, int max_parts,
                      int *nparts, char *errstr, size_t errsize);

/* The identity `init` gave the database (bankstream_meta database_id, else
 * initialized_at), into out. Returns 0 or -1 with errstr. */
int pgsink_database_id(pgsink_t *s, char *out, size_t outsize, char *errstr, size_t errsize);

/* The end offsets batch_log holds for batch_id of this sink's topic.
 * Returns 0 (found), 1 (no such batch of this topic) or -1 with errstr. */
int pgsink_batch_offsets(pgsink_t *s, int64_t batch_id, int64_t *end_offsets, int max_parts,
                         int *nparts, char *errstr, size_t errsize);

/* Stream every user of `usuarios`, the ledger deltas of the batches after
 * after_batch, or every committed transaction id to the callback (which returns 0 to go on, -1 to
 * stop). Returns 0, or -1 with errstr. */
int pgsink_each_user(pgsink_t *s, int (*each)(void *ctx, const user_state_t *u), void *ctx,
                     char *errstr, size_t errsize);
int pgsink_each_ledger_delta(pgsink_t *s, int64_t after_batch,
                             int (*each)(void *ctx, const ledger_delta_t *d), void *ctx,
                             char *errstr, size_t errsize);
int pgsink_each_seen_id(pgsink_t *s, int (*each)(void *ctx, const uint8_t id[16]), void *ctx,
                        char *errstr, size_t errsize);

/* Stream the committed transactions of this sink's topic in batches after
 * after_batch, with their results, in (batch, partition, offset) order, as
 * archive rows (to rebuild an archive interval a crash cut short). */
int pgsink_each_archive_row(pgsink_t *s, int64_t after_batch,
                            int (*each)(void *ctx, const txn_record_t *row), void *ctx,
                            char *errstr, size_t errsize);

/* Commit the batch in one transaction (retrying a lost server as described
 * above). Returns 0 once committed, -1 with errstr when it could not be. */
int pgsink_commit(pgsink_t *s, const batch_t *b, char *errstr, size_t errsize);

#endif
