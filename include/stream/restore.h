/* restore.h - before the first batch, rank 0 brings every rank to the state
 * of the last committed batch (collective: the workers serve the steps).
 *
 *   1. batch_log: the newest batch id of the database and the end offsets
 *      of the newest batch of this topic (where Kafka resumes);
 *   2. the users: the newest usable snapshot of the snapshot directory (one
 *      of this database and topic whose batch and offsets batch_log holds,
 *      that reads back intact, and no older than the highest batch
 *      retention deleted), else usuarios;
 *   3. the ledger of the batches after that snapshot, as per-user deltas
 *      (from usuarios: plus what retention carried over);
 *   4. the duplicate filter: every committed transaction id, purged ones
 *      included;
 *   5. the archive of the batches committed after the snapshot (a crash cut
 *      that interval short), rebuilt from the database unless retention
 *      deleted rows of those batches.
 * All in one REPEATABLE READ transaction on db; the schema is checked
 * first (an older one: "run 'bankstream init'"). */
#ifndef BS_RESTORE_H
#define BS_RESTORE_H

#include "base/job.h"
#include "cluster/cluster.h"
#include <libpq-fe.h>
#include "stream/archiver.h"
#include "stream/cutter.h"

#include <stddef.h>
#include <stdint.h>

#define RESTORE_MAX_PARTITIONS 1024

typedef struct restored {
    int64_t last_batch;    /* newest committed batch of the database, 0 = none */
    int64_t last_snapshot; /* batch of the snapshot restored, 0 = none */
    int64_t purged_batch;  /* highest batch retention deleted rows of, 0 = none */
    char database_id[128]; /* what `init` called this database: snapshots carry it */
    int64_t start_offsets[RESTORE_MAX_PARTITIONS]; /* where Kafka resumes, -1 = start */
    int nstart;
    /* the Kafka timestamp of the message before each start offset, -1 =
     * unknown: the check that the topic is the one batch_log describes */
    int64_t last_ts_ms[RESTORE_MAX_PARTITIONS];
    int nlast_ts;
} restored_t;

/* Restore as above into the ranks' shards, the duplicate filter
 * (ct->dedupe: the ids the database has), ct->next_batch_id and arch. 0 with *out filled, or -1
 * with errstr. */
int stream_restore(cluster_t *c, PGconn *db, const job_config_t *job, cutter_t *ct,
                   archiver_t *arch, restored_t *out, char *errstr, size_t errsize);

#endif
