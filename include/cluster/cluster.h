/* cluster.h - the ranks of one `run` or `replay`: their roles, the command
 * protocol rank 0 drives, and the collective steps that move state between
 * ranks.
 *
 * Workers own shards of the users (engine/worker.h). In the stream, rank 0
 * owns Kafka and PostgreSQL and the workers are ranks 1..N-1 (rank 0 itself
 * when N == 1); in replay every rank is a worker. Rank 0 drives the stream
 * by broadcasting a command (cluster_command); the other ranks wait in
 * cluster_serve, and then every rank takes part in the step the command
 * names:
 *   CLUSTER_CMD_USERS       users, each to its owner             (start-up)
 *   CLUSTER_CMD_DELTAS      ledger deltas, each to its owner     (start-up)
 *   CLUSTER_CMD_DECIDE      a batch's rows to their payers' owners, decided
 *                           by the one loop, results back to rank 0
 *   CLUSTER_CMD_STATS       each rank's memory and shard totals to rank 0
 *   CLUSTER_CMD_SNAP_WRITE  every rank writes its users into one snapshot
 *   CLUSTER_CMD_SNAP_READ   every rank reads a slice of a snapshot; users go
 *                           to their owners (any N to any N)
 *   CLUSTER_CMD_SNAP_NEWEST the same, from the newest snapshot of the
 *                           snapshot directory that rank 0 accepts
 *   CLUSTER_CMD_STOP        leave cluster_serve
 * Replay calls the steps on every rank in lockstep, without commands.
 * Workers wait for a command without spinning (MPI_Ibcast + MPI_Test + a
 * short sleep), so an idle stream does not burn the cores PostgreSQL needs.
 *
 * Every step returns 0, or -1 with errstr; a failed step is failed on every
 * rank that took part (the collective calls agree). */
#ifndef BS_CLUSTER_H
#define BS_CLUSTER_H

#include "base/job.h"
#include "engine/worker.h"
#include "h5/h5snap.h"

#include <mpi.h>
#include <signal.h>
#include <stdint.h>

enum cluster_cmd {
    CLUSTER_CMD_USERS = 1,
    CLUSTER_CMD_DELTAS,
    CLUSTER_CMD_DECIDE,
    CLUSTER_CMD_STATS,
    CLUSTER_CMD_STOP,
    CLUSTER_CMD_SNAP_WRITE,
    CLUSTER_CMD_SNAP_READ,
    CLUSTER_CMD_SNAP_NEWEST,
};

typedef struct cluster {
    MPI_Comm world;
    int rank, size;
    int is_worker;
    int nworkers;
    int first_worker; /* world rank of worker 0: 1 for the stream, 0 for replay or N == 1 */
    worker_t worker;  /* valid when is_worker */
    char snapshot_dir[512];
} cluster_t;

/* Per-rank figures gathered by CLUSTER_CMD_STATS. */
typedef struct cluster_rank_stats {
    int64_t rss_kib;
    int64_t users;
    int64_t money_cents;
} cluster_rank_stats_t;

/* Refuse a launch that made N one-rank worlds instead of one N-rank world
 * (plain `srun -n N` without PMIx): returns -1 with errstr when this world
 * has one rank but Slurm or Open MPI say the step has more. */
int cluster_check_launch(int world_size, char *errstr, size_t errsize);

/* How long MPI start-up may take before the ranks give up (cluster_spans_hosts):
 * $BANKSTREAM_MPI_START_TIMEOUT seconds, else CLUSTER_START_TIMEOUT. */
#define CLUSTER_START_TIMEOUT 60
int cluster_start_timeout(void);

/* Collective over world, and the ranks' first contact: every rank sends its
 * host name (MPI_Get_processor_name) to every other rank, without blocking.
 * A rank still waiting for some after 5 s says which (one warning every
 * 10 s); after timeout_seconds it gives up. Returns 1 when the ranks run on
 * more than one host (where, if not NULL, then receives "HOST, rank R" for
 * log_set_where), 0 when they all run on this one (where ""), -1 with errstr
 * naming this rank, its host and the ranks that never answered: requests
 * are then left pending, and the caller must end the job with MPI_Abort. */
int cluster_spans_hosts(MPI_Comm world, int timeout_seconds, char *where, size_t where_size,
                        char *errstr, size_t errsize);

/* Collective set-up: MPI_ERRORS_RETURN on world, roles and the workers'
 * communicator. With rank0_works (replay, which has no Kafka or sink to
 * serve), rank 0 owns users too and every rank is a worker; otherwise
 * workers are ranks 1..N-1 (or rank 0 when N == 1). Every rank checks the
 * rules' zone. 0, or -1 with errstr on every rank. */
int cluster_init(cluster_t *c, MPI_Comm world, const job_config_t *job, int rank0_works,
                 char *errstr, size_t errsize);
void cluster_free(cluster_t *c);

/* Collective, before any rank writes into dir: check that every rank sees
 * the same directory (snapshots and archives are written by all ranks into
 * one file, so dir must be on a file system every host shares). Rank 0
 * creates dir if needed and writes a token file into it; every rank reads
 * it back; rank 0 removes it. 0, or -1 with errstr on every rank naming
 * the hosts (and ranks) that do not see it. */
int cluster_check_shared_dir(cluster_t *c, const char *dir, char *errstr, size_t errsize);

/* Rank 0: announce the next step. Collective with cluster_serve. */
int cluster_command(cluster_t *c, int cmd, char *errstr, size_t errsize);

/* Ranks other than 0 of the stream: serve commands until CLUSTER_CMD_STOP.
 * Returns 0, or -1 with errstr when a step could not be served (the job
 * cannot go on: the caller aborts it). */
int cluster_serve(cluster_t *c, char *errstr, size_t errsize);

/* World rank owning a user. */
int cluster_owner_rank(const cluster_t *c, const uint8_t id[16]);

/* World ranks owning n users at once (route_owners): id i is the 16 bytes
 * at ids + i * stride, its owner's rank goes to out[i]. */
void cluster_owner_ranks(const cluster_t *c, const void *ids, size_t stride, size_t n, int *out);

/* The collective steps. Arguments marked (root) are read or written on
 * rank 0 only; records are packed by destination rank with counts[size]. */
int cluster_step_users(cluster_t *c, const user_state_t *users /*root*/, const int *counts /*root*/,
                       char *errstr, size_t errsize);
/* *missing (root) gets the number of deltas whose user no worker has. */
int cluster_step_deltas(cluster_t *c, const ledger_delta_t *d /*root*/, const int *counts /*root*/,
                        int64_t *missing /*root*/, char *errstr, size_t errsize);
/* Decide one batch: rows[0..n) (root) in (event) order, each sent to its
 * payer's owner, decided there (worker_lookup, worker_decide), the results
 * back into out[0..n) (root) in the rows' order. */
int cluster_step_decide(cluster_t *c, const decide_row_t *rows /*root*/, size_t n /*root*/,
                        decide_result_t *out /*root*/, char *errstr, size_t errsize);
int cluster_step_stats(cluster_t *c, cluster_rank_stats_t **all /*root, malloc'd, [size]*/,
                       char *errstr, size_t errsize);

/* Write a snapshot of every rank's users into the snapshot directory (meta
 * read on rank 0). */
int cluster_step_snap_write(cluster_t *c, const h5snap_meta_t *meta /*root*/, char *errstr,
                            size_t errsize);
/* Read snapshot `path` (root) and load its users into their owners' shards.
 * On success *meta is filled (on root); on failure the shards are unchanged. */
int cluster_step_snap_read(cluster_t *c, const char *path /*root*/, h5snap_meta_t *meta,
                           char *errstr, size_t errsize);

/* Restore from the newest snapshot of c->snapshot_dir that accept (called
 * on rank 0, see h5snap_read_newest) takes, skipping (with a warning) those
 * it refuses and those that do not read back intact. Returns 0 with *meta
 * and its path (root), 1 when no snapshot was usable (the shards are
 * unchanged), -1 with errstr. */
int cluster_step_snap_newest(cluster_t *c, h5snap_accept_fn accept /*root*/,
                             void *accept_arg /*root*/, h5snap_meta_t *meta, char *path /*root*/,
                             size_t pathsize, char *errstr, size_t errsize);

#endif
