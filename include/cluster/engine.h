/* engine.h - the MPI processor: rank roles, the command protocol between
 * rank 0 and the workers, and the collective steps built on it.
 *
 * Rank 0 (coordinator.c) owns Kafka and PostgreSQL; workers (worker.c) own
 * shards of the users. With one rank, rank 0 is also the only worker. Rank 0
 * drives everything by broadcasting a command, then every rank takes part in
 * the collective step that command names:
 *   ENGINE_CMD_USERS   scatter users to their owners          (start-up)
 *   ENGINE_CMD_DELTAS  scatter ledger deltas to their owners  (start-up)
 *   ENGINE_CMD_BATCH   scatter work items, decide, gather results
 *   ENGINE_CMD_STATS   gather each rank's memory and shard totals
 *   ENGINE_CMD_SNAP_WRITE  every rank writes its users into one HDF5 snapshot
 *   ENGINE_CMD_SNAP_READ   every rank reads a slice of a snapshot; the users
 *                          are re-routed to their owners (any N to any N)
 *   ENGINE_CMD_STOP    leave the loop
 * Workers wait for a command without spinning (MPI_Ibcast + MPI_Test + a
 * short sleep), so an idle stream does not burn the cores Postgres needs. */
#ifndef BS_ENGINE_H
#define BS_ENGINE_H

#include "h5/h5snap.h"
#include "base/job.h"
#include "engine/worker.h"

#include <mpi.h>
#include <signal.h>
#include <stdint.h>

enum engine_cmd {
    ENGINE_CMD_USERS = 1,
    ENGINE_CMD_DELTAS,
    ENGINE_CMD_BATCH,
    ENGINE_CMD_STATS,
    ENGINE_CMD_STOP,
    ENGINE_CMD_SNAP_WRITE,
    ENGINE_CMD_SNAP_READ,
};

typedef struct engine {
    MPI_Comm world;
    int rank, size;
    int is_worker;
    int nworkers;
    int first_worker; /* world rank of worker 0: 1 for the stream, 0 for replay or N == 1 */
    worker_t worker;  /* valid when is_worker */
    char snapshot_dir[512];
} engine_t;

/* Per-rank figures gathered by ENGINE_CMD_STATS. */
typedef struct engine_rank_stats {
    int64_t rss_kib;
    int64_t users;
    int64_t money_cents;
} engine_rank_stats_t;

/* Set by SIGINT, SIGTERM or SIGUSR1 on every rank; only rank 0 acts on it. */
extern volatile sig_atomic_t engine_stop_requested;
void engine_install_signals(void);

/* Refuse a launch that made N one-rank worlds instead of one N-rank world
 * (plain `srun -n N` without PMIx): returns -1 with errstr when this world
 * has one rank but Slurm or Open MPI say the step has more. */
int engine_check_launch(int world_size, char *errstr, size_t errsize);

/* Collective set-up: roles and the workers' communicator. With rank0_works
 * (replay, which has no Kafka or sink to serve), rank 0 owns users too and
 * every rank is a worker; otherwise workers are ranks 1..N-1 (or rank 0 when
 * N == 1). 0 or -1 + errstr. */
int engine_init(engine_t *e, MPI_Comm world, const job_config_t *job, int rank0_works, char *errstr,
                size_t errsize);
void engine_free(engine_t *e);

/* Rank 0: announce the next step. Collective with engine_wait_command. */
int engine_send_command(engine_t *e, int cmd);
/* Workers: block (without spinning) for rank 0's next command. */
int engine_wait_command(engine_t *e, int *cmd);

/* The collective steps. Arguments marked (root) are read on rank 0 only;
 * records are packed by destination rank with counts[size]. */
int engine_step_users(engine_t *e, const user_state_t *users /*root*/, const int *counts /*root*/);
int engine_step_deltas(engine_t *e, const ledger_delta_t *d /*root*/, const int *counts /*root*/);
int engine_step_batch(engine_t *e, const work_item_t *items /*root*/, const int *counts /*root*/,
                      work_result_t **results /*root, malloc'd*/, int *nresults /*root*/);
int engine_step_stats(engine_t *e, engine_rank_stats_t **all /*root, malloc'd, [size]*/);

/* Write a snapshot of every rank's users into the snapshot directory (meta
 * read on rank 0). Returns 0 or -1 with errstr, the same on all ranks. */
int engine_step_snap_write(engine_t *e, const h5snap_meta_t *meta /*root*/, char *errstr,
                           size_t errsize);
/* Read snapshot `path` (root) and load its users into their owners' shards.
 * Returns 0 with *meta filled (on root), or -1 with errstr on all ranks, the
 * shards then unchanged. */
int engine_step_snap_read(engine_t *e, const char *path /*root*/, h5snap_meta_t *meta, char *errstr,
                          size_t errsize);

/* World rank owning a user. */
int engine_owner_rank(const engine_t *e, const uint8_t id[16]);

/* The worker loop: serve commands until ENGINE_CMD_STOP. Returns 0, or an
 * MPI error code. Ranks other than 0 run only this. */
int engine_serve(engine_t *e);

#endif
