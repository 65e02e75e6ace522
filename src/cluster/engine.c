/* engine.c - rank roles, the command broadcast and the collective steps
 * (see engine.h for the protocol). */
#include "cluster/engine.h"
#include "engine/exchange.h"
#include "base/log.h"
#include "engine/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t engine_stop_requested = 0;

static void on_stop_signal(int sig)
{
    (void)sig;
    engine_stop_requested = 1;
}

void engine_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* mpirun forwards USR1 as is; Slurm --signal sends it */
}

int engine_check_launch(int world_size, char *errstr, size_t errsize)
{
    static const char *const vars[] = {"SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        long n = v ? strtol(v, NULL, 10) : 0;
        if (world_size == 1 && n > 1) {
            snprintf(errstr, errsize,
                     "this process is a one-rank MPI world but %s=%ld: the launcher started "
                     "separate copies instead of one job; use mpirun, or srun --mpi=pmix (see "
                     "'Running on a cluster' in the README)",
                     vars[i], n);
            return -1;
        }
    }
    return 0;
}

int engine_init(engine_t *e, MPI_Comm world, const job_config_t *job, int rank0_works, char *errstr,
                size_t errsize)
{
    memset(e, 0, sizeof *e);
    e->world = world;
    MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
    MPI_Comm_rank(world, &e->rank);
    MPI_Comm_size(world, &e->size);
    e->first_worker = rank0_works ? 0 : route_worker_rank(0, e->size);
    e->nworkers = e->size - e->first_worker;
    e->is_worker = e->rank >= e->first_worker;
    snprintf(e->snapshot_dir, sizeof e->snapshot_dir, "%s", job->snapshot_dir);
    MPI_Comm workers = MPI_COMM_NULL;
    int rc = MPI_Comm_split(world, e->is_worker ? 0 : MPI_UNDEFINED, e->rank, &workers);
    if (rc != MPI_SUCCESS) {
        snprintf(errstr, errsize, "MPI_Comm_split failed (MPI error %d)", rc);
        return -1;
    }
    /* Every rank checks its own configuration, and they agree on the result. */
    int ok = 1, all_ok = 0;
    if (e->is_worker) {
        MPI_Comm_set_errhandler(workers, MPI_ERRORS_RETURN);
        ok = worker_init(&e->worker, workers, &job->rules, errstr, errsize) == 0;
    } else {
        tzhour_t tz; /* rank 0 checks the zone too, so that it can name the problem */
        ok = tzhour_init(&tz, job->rules.timezone, errstr, errsize) == 0;
        tzhour_free(&tz);
    }
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, world);
    if (!all_ok) {
        if (ok) snprintf(errstr, errsize, "a worker rank failed to start (see its message)");
        return -1;
    }
    return 0;
}

void engine_free(engine_t *e)
{
    if (e->is_worker) {
        MPI_Comm c = e->worker.comm;
        worker_free(&e->worker);
        if (c != MPI_COMM_NULL) MPI_Comm_free(&c);
    }
}

int engine_send_command(engine_t *e, int cmd)
{
    MPI_Request req;
    int rc = MPI_Ibcast(&cmd, 1, MPI_INT, 0, e->world, &req);
    return rc == MPI_SUCCESS ? exchange_wait(&req) : rc;
}

int engine_wait_command(engine_t *e, int *cmd)
{
    MPI_Request req;
    int rc = MPI_Ibcast(cmd, 1, MPI_INT, 0, e->world, &req);
    return rc == MPI_SUCCESS ? exchange_wait(&req) : rc;
}

int engine_owner_rank(const engine_t *e, const uint8_t id[16])
{
    return e->first_worker + route_owner(id, e->nworkers);
}

int engine_step_users(engine_t *e, const user_state_t *users, const int *counts)
{
    user_state_t *mine = NULL;
    int n = 0, rc = exchange_scatter(e->world, 0, users, counts, sizeof *users, (void **)&mine, &n);
    if (rc == MPI_SUCCESS && e->is_worker && worker_put_users(&e->worker, mine, n) != 0)
        rc = MPI_ERR_NO_MEM;
    free(mine);
    return rc;
}

int engine_step_deltas(engine_t *e, const ledger_delta_t *d, const int *counts)
{
    ledger_delta_t *mine = NULL;
    int n = 0, rc = exchange_scatter(e->world, 0, d, counts, sizeof *d, (void **)&mine, &n);
    if (rc == MPI_SUCCESS && e->is_worker && worker_apply_deltas(&e->worker, mine, n) == -2)
        log_warn("the ledger names users missing from usuarios; their balances are skipped");
    free(mine);
    return rc;
}

int engine_step_batch(engine_t *e, const work_item_t *items, const int *counts,
                      work_result_t **results, int *nresults)
{
    work_item_t *mine = NULL;
    work_result_t *out = NULL;
    int n = 0, rc = exchange_scatter(e->world, 0, items, counts, sizeof *items, (void **)&mine, &n);
    if (rc == MPI_SUCCESS && e->is_worker) {
        out = malloc((size_t)(n ? n : 1) * sizeof *out);
        rc = out ? worker_decide(&e->worker, mine, n, out) : MPI_ERR_NO_MEM;
    }
    work_result_t *gathered = NULL;
    int ngathered = 0;
    if (rc == MPI_SUCCESS)
        rc = exchange_gather(e->world, 0, out, e->is_worker ? n : 0, sizeof *out,
                             (void **)&gathered, &ngathered);
    if (e->rank == 0 && rc == MPI_SUCCESS) {
        *results = gathered;
        *nresults = ngathered;
    } else {
        free(gathered);
    }
    free(mine);
    free(out);
    return rc;
}

static int64_t rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

int engine_step_stats(engine_t *e, engine_rank_stats_t **all)
{
    engine_rank_stats_t mine = {rss_kib(), 0, 0};
    if (e->is_worker) worker_totals(&e->worker, &mine.users, &mine.money_cents);
    int n = 0;
    return exchange_gather(e->world, 0, &mine, 1, sizeof mine, (void **)all, &n);
}

int engine_step_snap_write(engine_t *e, const h5snap_meta_t *meta, char *errstr, size_t errsize)
{
    h5snap_meta_t none;
    if (meta == NULL) {
        memset(&none, 0, sizeof none);
        meta = &none;
    }
    if (e->is_worker)
        return h5snap_write_shard(e->world, e->snapshot_dir, meta, &e->worker.users, errstr,
                                  errsize);
    return h5snap_write(e->world, e->snapshot_dir, meta, NULL, 0, errstr, errsize);
}

int engine_step_snap_read(engine_t *e, const char *path, h5snap_meta_t *meta, char *errstr,
                          size_t errsize)
{
    char file[1024] = "";
    if (e->rank == 0) snprintf(file, sizeof file, "%s", path);
    int rc = MPI_Bcast(file, sizeof file, MPI_CHAR, 0, e->world);
    user_state_t *slice = NULL, *packed = NULL, *mine = NULL;
    int *dest = NULL, *counts = NULL, *rcounts = NULL, nmine = 0;
    size_t n = 0;
    if (rc != MPI_SUCCESS) {
        snprintf(errstr, errsize, "MPI error %d", rc);
        return -1;
    }
    if (h5snap_read(e->world, file, meta, &slice, &n, errstr, errsize) != 0) return -1;
    /* Every rank holds an arbitrary slice: send each user to its owner. */
    dest = malloc((n ? n : 1) * sizeof *dest);
    packed = malloc((n ? n : 1) * sizeof *packed);
    counts = malloc((size_t)e->size * sizeof *counts);
    rcounts = malloc((size_t)e->size * sizeof *rcounts);
    rc = dest && packed && counts && rcounts ? MPI_SUCCESS : MPI_ERR_NO_MEM;
    for (size_t i = 0; rc == MPI_SUCCESS && i < n; i++)
        dest[i] = engine_owner_rank(e, slice[i].id);
    if (rc == MPI_SUCCESS)
        rc = exchange_pack(slice, n, sizeof *slice, dest, e->size, packed, counts, NULL);
    if (rc == MPI_SUCCESS)
        rc = exchange_alltoall(e->world, packed, counts, sizeof *packed, (void **)&mine, &nmine,
                               rcounts);
    if (rc == MPI_SUCCESS && e->is_worker && worker_put_users(&e->worker, mine, nmine) != 0)
        rc = MPI_ERR_NO_MEM;
    int ok = rc == MPI_SUCCESS, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, e->world);
    if (!all_ok)
        snprintf(errstr, errsize, "distributing snapshot %s failed (MPI error %d)", file, rc);
    free(slice);
    free(dest);
    free(packed);
    free(counts);
    free(rcounts);
    free(mine);
    return all_ok ? 0 : -1;
}

int engine_serve(engine_t *e)
{
    for (;;) {
        char err[1024];
        int cmd = 0, rc = engine_wait_command(e, &cmd);
        engine_rank_stats_t *ignored = NULL;
        if (rc != MPI_SUCCESS) return rc;
        switch (cmd) {
        case ENGINE_CMD_USERS:
            rc = engine_step_users(e, NULL, NULL);
            break;
        case ENGINE_CMD_DELTAS:
            rc = engine_step_deltas(e, NULL, NULL);
            break;
        case ENGINE_CMD_BATCH:
            rc = engine_step_batch(e, NULL, NULL, NULL, NULL);
            break;
        case ENGINE_CMD_STATS:
            rc = engine_step_stats(e, &ignored);
            break;
        case ENGINE_CMD_STOP:
            return MPI_SUCCESS;
        case ENGINE_CMD_SNAP_WRITE: /* failures are reported by rank 0 */
            engine_step_snap_write(e, NULL, err, sizeof err);
            break;
        case ENGINE_CMD_SNAP_READ: {
            h5snap_meta_t meta;
            engine_step_snap_read(e, NULL, &meta, err, sizeof err);
            break;
        }
        default:
            return MPI_ERR_OTHER;
        }
        free(ignored);
        if (rc != MPI_SUCCESS) return rc;
    }
}
