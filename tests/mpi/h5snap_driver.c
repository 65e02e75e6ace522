/* h5snap_driver.c - drives h5snap.h under mpirun for tests/integration/80-snapshot.sh
 * and tests/bench/snapshot.sh (N-independence, corruption, timing).
 *
 *   dump N SEED                      print the N generated users, one per line (serial)
 *   write DIR BATCH N SEED NPARTS [--shard] [--block]
 *                                    collective write of the N users, spread over
 *                                    the workers (ranks 1..size-1, rank 0 alone
 *                                    at -np 1) by route_owner, or by index blocks
 *                                    with --block (bench: no rank generates all)
 *   read FILE OUT                    collective read; rank r prints its users to OUT.r;
 *                                    rank 0 prints the meta
 *   newest DIR MAXBATCH              collective h5snap_read_newest of batches <= MAXBATCH;
 *                                    warnings on stderr
 *   snapshot ARGS...                 cmd_snapshot, as `bankstream snapshot`
 *   set-version FILE V               overwrite the root attribute format_version
 *   strip FILE OBJECT                delete a link (e.g. /users/region)
 *
 * User i is drawn from rng stream 1000 + i of SEED, so any rank can make any
 * user and the set written never depends on the number of ranks. Prints
 * "<mode>: <seconds> s" timings on rank 0 for the bench. With
 * H5SNAP_DRIVER_PIDFILE set, write appends each rank's pid to that file (so
 * a test can kill exactly these processes mid-write). */
#include "commands.h"
#include "h5/h5snap.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/regions.h"
#include "base/rng.h"
#include "engine/route.h"
#include "engine/shard.h"

#include <hdf5.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void gen_user(uint64_t seed, uint64_t i, user_state_t *u)
{
    rng_t r;
    rng_seed(&r, seed, 1000 + i);
    memset(u, 0, sizeof *u);
    rng_uuid(&r, u->id);
    u->balance_cents = (int64_t)(rng_next(&r) % 100000000000ULL);
    if (i % 97 == 0) u->balance_cents = 0;
    for (int k = 0; k < MOD_COUNT; k++)
        u->limit_cents[k] = (int64_t)(rng_next(&r) % 1000000000ULL);
    u->region = (uint8_t)rng_below(&r, REGION_COUNT);
    u->last_approved_us =
        i % 3 == 0 ? INT64_MIN : 1700000000000000LL + (int64_t)(rng_next(&r) % 100000000000000ULL);
}

static void print_user(FILE *out, const user_state_t *u)
{
    char id[IDS_TEXT_LEN + 1];
    ids_format(u->id, id);
    fprintf(out, "%s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %u %" PRId64 "\n",
            id, u->balance_cents, u->limit_cents[0], u->limit_cents[1], u->limit_cents[2],
            u->limit_cents[3], u->region, u->last_approved_us);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void warn_cb(void *arg, const char *msg)
{
    fprintf(stderr, "warning: %s\n", msg);
}

static int do_write(int argc, char **argv)
{
    if (argc < 6) return 2;
    const char *dir = argv[1];
    int64_t batch = atoll(argv[2]);
    uint64_t n = strtoull(argv[3], NULL, 10), seed = strtoull(argv[4], NULL, 10);
    int nparts = atoi(argv[5]), use_shard = 0, block = 0;
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "--shard")) use_shard = 1;
        if (!strcmp(argv[i], "--block")) block = 1;
    }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int nworkers = size == 1 ? 1 : size - 1; /* the stream's workers: ranks 1..N-1, or rank 0 */
    int w = size == 1 ? 0 : rank - 1;        /* this rank's worker index, -1 on rank 0 */
    uint64_t lo = 0, hi = n;
    if (block) {
        lo = w < 0 ? 0 : n * (uint64_t)w / (uint64_t)nworkers;
        hi = w < 0 ? 0 : n * (uint64_t)(w + 1) / (uint64_t)nworkers;
    }
    user_state_t *users = malloc((hi - lo + 1) * sizeof *users);
    shard_t shard;
    if (!users || (use_shard && shard_init(&shard, 1024) != 0)) return 1;
    size_t mine = 0;
    for (uint64_t i = lo; i < hi; i++) {
        user_state_t u;
        gen_user(seed, i, &u);
        if (!block && (w < 0 || route_owner(u.id, nworkers) != w)) continue;
        if (use_shard) {
            if (!shard_put(&shard, &u)) return 1;
        } else {
            users[mine++] = u;
        }
    }
    h5snap_meta_t m;
    memset(&m, 0, sizeof m);
    m.batch_id = batch;
    snprintf(m.topic, sizeof m.topic, "bank_transactions");
    snprintf(m.origin, sizeof m.origin, "h5snap_driver seed %" PRIu64, seed);
    m.nparts = nparts;
    for (int p = 0; p < nparts; p++)
        m.end_offsets[p] = 1000 * (p + 1) + batch;
    char err[1024];
    const char *pidfile = getenv("H5SNAP_DRIVER_PIDFILE"); /* for the crash test */
    if (pidfile) {
        FILE *pf = fopen(pidfile, "a");
        if (pf) {
            fprintf(pf, "%ld\n", (long)getpid());
            fclose(pf);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    int rc = use_shard ? h5snap_write_shard(MPI_COMM_WORLD, dir, &m, &shard, err, sizeof err)
                       : h5snap_write(MPI_COMM_WORLD, dir, &m, users, mine, err, sizeof err);
    double t1 = now_s();
    if (rc != 0) {
        if (rank == 0) fprintf(stderr, "write failed: %s\n", err);
    } else if (rank == 0) {
        char path[4096];
        h5snap_path(dir, batch, path, sizeof path);
        printf("wrote %s users=%" PRIu64 " ranks=%d\nwrite: %.3f s\n", path, n, size, t1 - t0);
    }
    free(users);
    if (use_shard) shard_free(&shard);
    return rc ? 1 : 0;
}

static int do_read(int argc, char **argv)
{
    if (argc < 3) return 2;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    h5snap_meta_t m;
    user_state_t *users = NULL;
    size_t n = 0;
    char err[1024];
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    int rc = h5snap_read(MPI_COMM_WORLD, argv[1], &m, &users, &n, err, sizeof err);
    double t1 = now_s();
    if (rc != 0) {
        fprintf(stderr, "rank %d: read failed: %s\n", rank, err);
        return 1;
    }
    if (strcmp(argv[2], "-") != 0) {
        char out[4096];
        snprintf(out, sizeof out, "%s.%d", argv[2], rank);
        FILE *f = fopen(out, "w");
        if (!f) return 1;
        for (size_t i = 0; i < n; i++)
            print_user(f, &users[i]);
        fclose(f);
    }
    uint64_t mine = n, total = 0;
    MPI_Reduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    printf("rank %d users %zu\n", rank, n);
    fflush(stdout);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        printf("batch=%" PRId64 " users=%" PRId64 " read=%" PRIu64 " total=%" PRId64
               " checksum=%" PRIu64 " writer_ranks=%d nparts=%d offsets=",
               m.batch_id, m.n_users, total, m.total_balance_cents, m.checksum, m.writer_ranks,
               m.nparts);
        for (int p = 0; p < m.nparts; p++)
            printf("%s%" PRId64, p ? "," : "", m.end_offsets[p]);
        printf("\nread: %.3f s\n", t1 - t0);
    }
    free(users);
    return 0;
}

/* h5snap_accept_fn: batches up to *(int64_t *)arg. */
static int accept_upto(void *arg, const char *path, const h5snap_meta_t *meta, char *why,
                       size_t whysize)
{
    int64_t max = *(const int64_t *)arg;
    if (meta->batch_id <= max) return 1;
    snprintf(why, whysize, "%s: skipped: batch %" PRId64 " is newer than batch %" PRId64, path,
             meta->batch_id, max);
    return 0;
}

static int do_newest(int argc, char **argv)
{
    if (argc < 3) return 2;
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    h5snap_meta_t m;
    user_state_t *users = NULL;
    size_t n = 0;
    char err[1024], path[4096] = "";
    int64_t max = atoll(argv[2]);
    int rc = h5snap_read_newest(MPI_COMM_WORLD, argv[1], accept_upto, &max, &m, &users, &n, path,
                                sizeof path, warn_cb, NULL, err, sizeof err);
    uint64_t mine = n, total = 0;
    MPI_Reduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        if (rc == 0)
            printf("chosen %s batch %" PRId64 " users %" PRIu64 "\n", path, m.batch_id, total);
        else if (rc == 1)
            printf("none\n");
        else
            fprintf(stderr, "newest failed: %s\n", err);
    }
    free(users);
    return rc < 0 ? 1 : 0;
}

static int do_set_version(int argc, char **argv)
{
    if (argc < 3) return 2;
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return 1;
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    int32_t v = atoi(argv[2]);
    int rc = (a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, &v) >= 0) ? 0 : 1;
    if (a >= 0) H5Aclose(a);
    H5Fclose(f);
    return rc;
}

static int do_strip(int argc, char **argv)
{
    if (argc < 3) return 2;
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return 1;
    int rc = H5Ldelete(f, argv[2], H5P_DEFAULT) < 0 ? 1 : 0;
    H5Fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: h5snap_driver dump|write|read|newest|snapshot|set-version|strip\n");
        return 2;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "dump") && argc >= 4) {
        uint64_t n = strtoull(argv[2], NULL, 10), seed = strtoull(argv[3], NULL, 10);
        for (uint64_t i = 0; i < n; i++) {
            user_state_t u;
            gen_user(seed, i, &u);
            print_user(stdout, &u);
        }
        return 0;
    }
    if (!strcmp(mode, "snapshot")) {
        log_set_command("snapshot");
        return cmd_snapshot(argc - 1, argv + 1);
    }
    if (!strcmp(mode, "set-version")) return do_set_version(argc - 1, argv + 1);
    if (!strcmp(mode, "strip")) return do_strip(argc - 1, argv + 1);

    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = 2;
    if (!strcmp(mode, "write")) rc = do_write(argc - 1, argv + 1);
    if (!strcmp(mode, "read")) rc = do_read(argc - 1, argv + 1);
    if (!strcmp(mode, "newest")) rc = do_newest(argc - 1, argv + 1);
    if (rc == 2) fprintf(stderr, "h5snap_driver: bad arguments for %s\n", mode);
    MPI_Finalize();
    return rc;
}
