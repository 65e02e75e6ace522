/* cluster.c - rank roles, the command broadcast and the collective steps
 * (see cluster.h for the protocol). */
#include "cluster/cluster.h"
#include "engine/exchange.h"
#include "base/log.h"
#include "engine/route.h"

#include "base/mkdirs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cluster_check_launch(int world_size, char *errstr, size_t errsize)
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

int cluster_start_timeout(void)
{
    const char *v = getenv("BANKSTREAM_MPI_START_TIMEOUT");
    char *end = NULL;
    long t = v && *v ? strtol(v, &end, 10) : CLUSTER_START_TIMEOUT;
    if (v && *v && (*end || t < 1 || t > 86400)) t = CLUSTER_START_TIMEOUT;
    return (int)t;
}

static double cluster_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "1, 2": the ranks whose receive in recv_req[] is not complete yet. */
static void cluster_missing(int size, int rank, const MPI_Request *recv_req, char *out,
                            size_t outsize)
{
    size_t n = 0;
    out[0] = '\0';
    for (int r = 0, listed = 0; r < size && n + 32 < outsize; r++) {
        if (r == rank || recv_req[r] == MPI_REQUEST_NULL) continue;
        if (listed++ == 8) {
            n += (size_t)snprintf(out + n, outsize - n, ", ...");
            break;
        }
        n += (size_t)snprintf(out + n, outsize - n, "%s%d", n ? ", " : "", r);
    }
}

int cluster_spans_hosts(MPI_Comm world, int timeout_seconds, char *where, size_t where_size,
                        char *errstr, size_t errsize)
{
    int rank = 0, size = 1, len = 0, rc = -1;
    char mine[64] = "", host[MPI_MAX_PROCESSOR_NAME] = "";
    if (where && where_size) where[0] = '\0';
    int mpi = MPI_Comm_rank(world, &rank);
    if (mpi == MPI_SUCCESS) mpi = MPI_Comm_size(world, &size);
    if (mpi == MPI_SUCCESS) mpi = MPI_Get_processor_name(host, &len);
    if (mpi != MPI_SUCCESS)
        return exchange_mpi_error(mpi, "MPI_Get_processor_name", errstr, errsize);
    snprintf(mine, sizeof mine, "%.*s", (int)sizeof mine - 1, host); /* cut to 63 bytes */
    /* Every rank sends its name to every other one, without blocking, so a
     * rank that cannot reach another (a firewall between hosts, MPI's TCP
     * on an interface the other host cannot route to) is seen, reported and
     * given up on instead of hanging in the first collective. */
    char(*names)[64] = calloc((size_t)size, sizeof *names);
    MPI_Request *req = malloc(2 * (size_t)size * sizeof *req);
    if (names == NULL || req == NULL) {
        snprintf(errstr, errsize, "rank %d: out of memory", rank);
        goto done;
    }
    memcpy(names[rank], mine, sizeof mine);
    for (int r = 0; r < 2 * size; r++)
        req[r] = MPI_REQUEST_NULL;
    for (int r = 0; r < size && mpi == MPI_SUCCESS; r++) {
        if (r == rank) continue;
        mpi = MPI_Irecv(names[r], sizeof names[r], MPI_CHAR, r, 0, world, &req[r]);
        if (mpi == MPI_SUCCESS)
            mpi = MPI_Isend(mine, sizeof mine, MPI_CHAR, r, 0, world, &req[size + r]);
    }
    double t0 = cluster_now(), next_note = t0 + 5;
    int done = 0;
    while (mpi == MPI_SUCCESS) {
        mpi = MPI_Testall(2 * size, req, &done, MPI_STATUSES_IGNORE);
        if (mpi != MPI_SUCCESS || done) break;
        double now = cluster_now();
        if (now >= next_note || now - t0 >= timeout_seconds) {
            /* which ranks have not answered: test the receives one by one */
            for (int r = 0; r < size && mpi == MPI_SUCCESS; r++) {
                int got = 0;
                if (req[r] != MPI_REQUEST_NULL) mpi = MPI_Test(&req[r], &got, MPI_STATUS_IGNORE);
            }
            char missing[256];
            cluster_missing(size, rank, req, missing, sizeof missing);
            if (now - t0 >= timeout_seconds) {
                snprintf(errstr, errsize,
                         "rank %d on %s: no answer from rank%s %s within %d s of MPI start-up "
                         "(BANKSTREAM_MPI_START_TIMEOUT): the hosts cannot reach each other on "
                         "MPI's TCP ports; check routes and firewalls between them, and Open "
                         "MPI's btl_tcp_if_include / oob_tcp_if_include",
                         rank, mine, strchr(missing, ',') ? "s" : "", missing, timeout_seconds);
                goto done; /* requests left pending: the caller aborts the job */
            }
            if (missing[0])
                log_warn("rank %d on %s: waiting for rank%s %s to answer (MPI start-up, %.0f s; "
                         "giving up after %d s)",
                         rank, mine, strchr(missing, ',') ? "s" : "", missing, now - t0,
                         timeout_seconds);
            next_note = now + 10;
        }
        struct timespec nap = {0, 2000000}; /* 2 ms */
        nanosleep(&nap, NULL);
    }
    if (mpi != MPI_SUCCESS) {
        exchange_mpi_error(mpi, "MPI_Testall", errstr, errsize);
        goto done;
    }
    rc = 0;
    for (int r = 0; r < size; r++)
        if (strcmp(names[r], mine) != 0) rc = 1;
    if (rc == 1 && where && where_size) snprintf(where, where_size, "%s, rank %d", mine, rank);
done:
    free(names);
    free(req);
    return rc;
}

int cluster_init(cluster_t *c, MPI_Comm world, const job_config_t *job, int rank0_works,
                 char *errstr, size_t errsize)
{
    memset(c, 0, sizeof *c);
    c->world = world;
    int rc = MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(world, &c->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(world, &c->size);
    if (rc != MPI_SUCCESS) return exchange_mpi_error(rc, "MPI_Comm_size", errstr, errsize);
    c->first_worker = rank0_works ? 0 : route_worker_rank(0, c->size);
    c->nworkers = c->size - c->first_worker;
    c->is_worker = c->rank >= c->first_worker;
    snprintf(c->snapshot_dir, sizeof c->snapshot_dir, "%s", job->snapshot_dir);
    MPI_Comm workers = MPI_COMM_NULL;
    rc = MPI_Comm_split(world, c->is_worker ? 0 : MPI_UNDEFINED, c->rank, &workers);
    if (rc != MPI_SUCCESS) return exchange_mpi_error(rc, "MPI_Comm_split", errstr, errsize);
    /* Every rank checks its own configuration, and they agree on the result. */
    int failed;
    if (c->is_worker) {
        failed = MPI_Comm_set_errhandler(workers, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
                 worker_init(&c->worker, workers, &job->rules, errstr, errsize) != 0;
        if (failed) {
            MPI_Comm_free(&workers);
            c->is_worker = 0;
        }
    } else {
        tzhour_t tz; /* rank 0 checks the zone too, so that it can name the problem */
        failed = tzhour_init(&tz, job->rules.timezone, errstr, errsize) != 0;
        tzhour_free(&tz);
    }
    return exchange_agree(world, failed, errstr, errsize);
}

void cluster_free(cluster_t *c)
{
    if (c->is_worker) {
        MPI_Comm workers = c->worker.comm;
        worker_free(&c->worker);
        if (workers != MPI_COMM_NULL) MPI_Comm_free(&workers);
        c->is_worker = 0;
    }
}

int cluster_check_shared_dir(cluster_t *c, const char *dir, char *errstr, size_t errsize)
{
    char path[1100] = "", token[64] = "", seen[64] = "";
    int rc = 0;
    if (c->rank == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(token, sizeof token, "%ld.%09ld.%d", (long)ts.tv_sec, ts.tv_nsec, (int)getpid());
        snprintf(path, sizeof path, "%s/.bankstream-shared-%s", dir, token);
        FILE *f = mkdirs(dir) == 0 ? fopen(path, "w") : NULL;
        if (f == NULL || fputs(token, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
            snprintf(errstr, errsize, "cannot write into %s: %s", dir, strerror(errno));
            rc = -1;
        }
        if (f) fclose(f);
    }
    if (exchange_agree(c->world, rc, errstr, errsize) != 0) return -1;
    int mpi = MPI_Bcast(path, sizeof path, MPI_CHAR, 0, c->world);
    if (mpi == MPI_SUCCESS) mpi = MPI_Bcast(token, sizeof token, MPI_CHAR, 0, c->world);
    if (mpi != MPI_SUCCESS) return exchange_mpi_error(mpi, "MPI_Bcast", errstr, errsize);
    FILE *f = fopen(path, "r");
    int sees = f != NULL && fgets(seen, sizeof seen, f) != NULL && strcmp(seen, token) == 0;
    if (f) fclose(f);
    /* the hosts that do not see it, to name them */
    char host[MPI_MAX_PROCESSOR_NAME] = "", *hosts = NULL;
    int len = 0, all = 1;
    MPI_Get_processor_name(host, &len);
    mpi = MPI_Allreduce(&sees, &all, 1, MPI_INT, MPI_MIN, c->world);
    if (mpi != MPI_SUCCESS) return exchange_mpi_error(mpi, "MPI_Allreduce", errstr, errsize);
    if (!all) {
        struct {
            char host[64];
            int rank, sees;
        } me = {"", c->rank, sees}, *them = NULL;
        snprintf(me.host, sizeof me.host, "%.*s", (int)sizeof me.host - 1, host);
        int n = 0;
        char gerr[256];
        if (exchange_gather(c->world, 0, &me, 1, sizeof me, (void **)&them, &n, gerr,
                            sizeof gerr) == 0 &&
            c->rank == 0 && (hosts = calloc(1, 2048)) != NULL) {
            for (int i = 0; i < n; i++)
                if (!them[i].sees)
                    snprintf(hosts + strlen(hosts), 2048 - strlen(hosts), "%s%s (rank %d)",
                             hosts[0] ? ", " : "", them[i].host, them[i].rank);
        }
        free(them);
        snprintf(errstr, errsize,
                 "%s is not shared with %s: snapshots and archives are written by every rank "
                 "into one file, so give a directory on a file system every host mounts",
                 dir, hosts ? hosts : "some ranks");
        free(hosts);
        rc = -1;
    }
    if (c->rank == 0) unlink(path);
    return rc == 0 ? 0 : exchange_agree(c->world, -1, errstr, errsize);
}

int cluster_command(cluster_t *c, int cmd, char *errstr, size_t errsize)
{
    MPI_Request req;
    int rc = MPI_Ibcast(&cmd, 1, MPI_INT, 0, c->world, &req);
    if (rc == MPI_SUCCESS) rc = exchange_wait(&req);
    return rc == MPI_SUCCESS ? 0 : exchange_mpi_error(rc, "MPI_Ibcast", errstr, errsize);
}

int cluster_owner_rank(const cluster_t *c, const uint8_t id[16])
{
    return c->first_worker + route_owner(id, c->nworkers);
}

void cluster_owner_ranks(const cluster_t *c, const void *ids, size_t stride, size_t n, int *out)
{
    route_owners(ids, stride, n, c->nworkers, out);
    for (size_t i = 0; i < n && c->first_worker; i++)
        out[i] += c->first_worker;
}

int cluster_step_users(cluster_t *c, const user_state_t *users, const int *counts, char *errstr,
                       size_t errsize)
{
    user_state_t *mine = NULL;
    int n = 0, rc = exchange_scatter(c->world, 0, users, counts, sizeof *users, (void **)&mine, &n,
                                     errstr, errsize);
    if (rc == 0 && c->is_worker && worker_put_users(&c->worker, mine, (size_t)n) != 0) {
        snprintf(errstr, errsize, "rank %d: out of memory loading users", c->rank);
        rc = -1;
    }
    free(mine);
    return exchange_agree(c->world, rc, errstr, errsize);
}

int cluster_step_deltas(cluster_t *c, const ledger_delta_t *d, const int *counts, int64_t *missing,
                        char *errstr, size_t errsize)
{
    ledger_delta_t *mine = NULL;
    int n = 0, rc = exchange_scatter(c->world, 0, d, counts, sizeof *d, (void **)&mine, &n, errstr,
                                     errsize);
    int64_t skipped =
        rc == 0 && c->is_worker ? (int64_t)worker_apply_deltas(&c->worker, mine, (size_t)n) : 0;
    free(mine);
    if (exchange_agree(c->world, rc, errstr, errsize) != 0) return -1;
    int mpi = MPI_Reduce(&skipped, missing, 1, MPI_INT64_T, MPI_SUM, 0, c->world);
    return mpi == MPI_SUCCESS ? 0 : exchange_mpi_error(mpi, "MPI_Reduce", errstr, errsize);
}

/* A worker's part of a decide step: its rows, as one run of one batch. */
static int decide_mine(cluster_t *c, const decide_row_t *rows, int n, decide_result_t *out,
                       char *errstr, size_t errsize)
{
    worker_t *w = &c->worker;
    if (worker_lookup_reserve(&w->lookup, (size_t)n) != 0) {
        snprintf(errstr, errsize, "rank %d: out of memory", c->rank);
        n = 0; /* still take part in the collectives, with no rows */
    }
    decide_run_t run = {rows, out, (size_t)n};
    int rc = worker_lookup(w, &run, 1, &w->lookup, errstr, errsize);
    if (worker_decide(w, &run, 1, 1, &w->lookup, errstr, errsize) != 0) rc = -1;
    return rc;
}

int cluster_step_decide(cluster_t *c, const decide_row_t *rows, size_t n, decide_result_t *out,
                        char *errstr, size_t errsize)
{
    decide_row_t *packed = NULL, *mine = NULL;
    decide_result_t *results = NULL, *gathered = NULL;
    int *dest = NULL, counts[c->size], nmine = 0, ngathered = 0, rc = 0;
    size_t *pos = NULL;
    if (c->rank == 0) {
        packed = malloc((n ? n : 1) * sizeof *packed);
        dest = malloc((n ? n : 1) * sizeof *dest);
        pos = malloc((n ? n : 1) * sizeof *pos);
        if (packed == NULL || dest == NULL || pos == NULL) {
            snprintf(errstr, errsize, "out of memory");
            rc = -1;
            n = 0; /* still take part, deciding nothing */
        }
        for (size_t i = 0; i < n; i++)
            dest[i] = cluster_owner_rank(c, rows[i].payer);
        if (rc == 0 && exchange_pack(rows, n, sizeof *rows, dest, c->size, packed, counts, pos,
                                     errstr, errsize) != 0)
            rc = -1;
        if (rc != 0) memset(counts, 0, sizeof counts);
    }
    if (exchange_scatter(c->world, 0, packed, counts, sizeof *packed, (void **)&mine, &nmine,
                         errstr, errsize) != 0)
        rc = -1;
    else if (c->is_worker &&
             ((results = malloc((size_t)(nmine ? nmine : 1) * sizeof *results)) == NULL ||
              decide_mine(c, mine, nmine, results, errstr, errsize) != 0))
        rc = -1;
    if (exchange_gather(c->world, 0, results, rc == 0 && c->is_worker ? nmine : 0, sizeof *results,
                        (void **)&gathered, &ngathered, errstr, errsize) != 0)
        rc = -1;
    if (c->rank == 0 && rc == 0 && (size_t)ngathered == n)
        for (size_t i = 0; i < n; i++)
            out[i] = gathered[pos[i]];
    rc = exchange_agree(c->world, rc, errstr, errsize);
    if (rc == 0 && c->rank == 0 && (size_t)ngathered != n) {
        snprintf(errstr, errsize, "decide: %d results came back for %zu rows", ngathered, n);
        rc = -1;
    }
    free(packed);
    free(dest);
    free(pos);
    free(mine);
    free(results);
    free(gathered);
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

int cluster_step_stats(cluster_t *c, cluster_rank_stats_t **all, char *errstr, size_t errsize)
{
    cluster_rank_stats_t mine = {rss_kib(), 0, 0};
    if (c->is_worker) worker_totals(&c->worker, &mine.users, &mine.money_cents);
    int n = 0;
    return exchange_gather(c->world, 0, &mine, 1, sizeof mine, (void **)all, &n, errstr, errsize);
}

int cluster_step_snap_write(cluster_t *c, const h5snap_meta_t *meta, char *errstr, size_t errsize)
{
    h5snap_meta_t none;
    if (meta == NULL) {
        memset(&none, 0, sizeof none);
        meta = &none;
    }
    if (c->is_worker)
        return h5snap_write_shard(c->world, c->snapshot_dir, meta, &c->worker.users, errstr,
                                  errsize);
    return h5snap_write(c->world, c->snapshot_dir, meta, NULL, 0, errstr, errsize);
}

/* Every rank holds an arbitrary slice of a snapshot's users (n at slice,
 * freed here): send each user to its owner, which loads it. 0, or -1 with
 * errstr on every rank (naming `file`); the shards are then partly loaded
 * only if a rank ran out of memory loading. */
static int distribute_users(cluster_t *c, user_state_t *slice, size_t n, const char *file,
                            char *errstr, size_t errsize)
{
    int counts[c->size], rcounts[c->size], nmine = 0, rc = 0;
    exchange_buf_t mine = {NULL, 0};
    int *dest = calloc(n ? n : 1, sizeof *dest);
    user_state_t *packed = malloc((n ? n : 1) * sizeof *packed);
    if (dest == NULL || packed == NULL) {
        snprintf(errstr, errsize, "rank %d: out of memory", c->rank);
        rc = -1;
        n = 0;
    }
    for (size_t i = 0; i < n; i++)
        dest[i] = cluster_owner_rank(c, slice[i].id);
    if (rc == 0 && exchange_pack(slice, n, sizeof *slice, dest, c->size, packed, counts, NULL,
                                 errstr, errsize) != 0) {
        rc = -1;
        n = 0;
    }
    if (n == 0) memset(counts, 0, sizeof counts);
    if (exchange_alltoall(c->world, packed, counts, sizeof *packed, &mine, &nmine, rcounts, errstr,
                          errsize) != 0)
        rc = -1;
    if (rc == 0 && c->is_worker && worker_put_users(&c->worker, mine.data, (size_t)nmine) != 0) {
        snprintf(errstr, errsize, "rank %d: out of memory loading the snapshot", c->rank);
        rc = -1;
    }
    free(slice);
    free(dest);
    free(packed);
    free(mine.data);
    if (exchange_agree(c->world, rc, errstr, errsize) == 0) return 0;
    char why[900];
    snprintf(why, sizeof why, "%s", errstr);
    snprintf(errstr, errsize, "distributing snapshot %s: %s", file, why);
    return -1;
}

int cluster_step_snap_read(cluster_t *c, const char *path, h5snap_meta_t *meta, char *errstr,
                           size_t errsize)
{
    char file[1024] = "";
    if (c->rank == 0) snprintf(file, sizeof file, "%s", path);
    int mpi = MPI_Bcast(file, sizeof file, MPI_CHAR, 0, c->world);
    if (mpi != MPI_SUCCESS) return exchange_mpi_error(mpi, "MPI_Bcast", errstr, errsize);
    user_state_t *slice = NULL;
    size_t n = 0;
    if (h5snap_read(c->world, file, meta, &slice, &n, errstr, errsize) != 0) return -1;
    return distribute_users(c, slice, n, file, errstr, errsize);
}

static void warn_skip(void *arg, const char *message)
{
    log_warn("%s", message);
}

int cluster_step_snap_newest(cluster_t *c, h5snap_accept_fn accept, void *accept_arg,
                             h5snap_meta_t *meta, char *path, size_t pathsize, char *errstr,
                             size_t errsize)
{
    user_state_t *slice = NULL;
    size_t n = 0;
    char file[1024] = "";
    int rc =
        h5snap_read_newest(c->world, c->rank == 0 ? c->snapshot_dir : NULL, accept, accept_arg,
                           meta, &slice, &n, file, sizeof file, warn_skip, NULL, errstr, errsize);
    if (rc != 0) return rc;
    if (path) snprintf(path, pathsize, "%s", file);
    return distribute_users(c, slice, n, file, errstr, errsize);
}

int cluster_serve(cluster_t *c, char *errstr, size_t errsize)
{
    for (;;) {
        char err[1024];
        int cmd = 0, rc;
        MPI_Request req;
        int mpi = MPI_Ibcast(&cmd, 1, MPI_INT, 0, c->world, &req);
        if (mpi == MPI_SUCCESS) mpi = exchange_wait_idle(&req); /* as long as the stream is quiet */
        if (mpi != MPI_SUCCESS) return exchange_mpi_error(mpi, "MPI_Ibcast", errstr, errsize);
        switch (cmd) {
        case CLUSTER_CMD_USERS:
            rc = cluster_step_users(c, NULL, NULL, err, sizeof err);
            break;
        case CLUSTER_CMD_DELTAS:
            rc = cluster_step_deltas(c, NULL, NULL, NULL, err, sizeof err);
            break;
        case CLUSTER_CMD_DECIDE:
            rc = cluster_step_decide(c, NULL, 0, NULL, err, sizeof err);
            break;
        case CLUSTER_CMD_STATS: {
            cluster_rank_stats_t *none = NULL;
            rc = cluster_step_stats(c, &none, err, sizeof err);
            free(none);
            break;
        }
        case CLUSTER_CMD_STOP:
            return 0;
        case CLUSTER_CMD_SNAP_WRITE:
            rc = cluster_step_snap_write(c, NULL, err, sizeof err);
            break;
        case CLUSTER_CMD_SNAP_READ: {
            h5snap_meta_t meta;
            rc = cluster_step_snap_read(c, NULL, &meta, err, sizeof err);
            break;
        }
        case CLUSTER_CMD_SNAP_NEWEST: {
            h5snap_meta_t meta;
            rc = cluster_step_snap_newest(c, NULL, NULL, &meta, NULL, 0, err, sizeof err);
            break;
        }
        default:
            snprintf(errstr, errsize, "rank %d: unknown command %d from rank 0", c->rank, cmd);
            return -1;
        }
        /* A step that failed everywhere was reported by rank 0, which decides
         * what comes next (a snapshot failure does not end the stream); only
         * MPI itself failing ends the loop, inside the steps' collectives. */
        (void)rc;
    }
}
