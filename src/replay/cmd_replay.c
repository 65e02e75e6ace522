/* cmd_replay.c - `bankstream replay`: batch mode over HDF5 archives.
 *
 *   mpirun -np N bankstream replay ARCHIVE... [--from-snapshot FILE]
 *          [--rules JOBFILE] [--out postgres|FILE.h5] [--batch-size K] [--pg C]
 *
 * Every rank is a worker (rank 0 too). Order: the archives are opened and
 * checked first, then the opening state is loaded (the snapshot given, else
 * usuarios), then the output is opened: new rows in
 * replay_runs/replay_resultados, or an HDF5 results file (h5results.h). */
#include "base/cli.h"
#include "commands.h"
#include "cluster/cluster.h"
#include "engine/exchange.h"
#include "base/job.h"
#include "cluster/loader.h"
#include "base/log.h"
#include "pg/pgconn.h"
#include "replay/replay.h"
#include "replay/replay_out.h"
#include "engine/rules.h"

#include <getopt.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static const char usage_text[] =
    "usage: mpirun -np N bankstream replay ARCHIVE... [options]\n"
    "\n"
    "Run the processor's rules over HDF5 transaction archives (written by the\n"
    "stream, or by `produce --hdf5`) in batch mode.\n"
    "\n"
    "  --from-snapshot FILE  opening state (default: the users of the database)\n"
    "  --rules JOBFILE       rules from this job file's [rules] (what-if runs)\n"
    "  --out postgres|F.h5   results into replay_runs/replay_resultados (default)\n"
    "                        or into an HDF5 results file F.h5, written by\n"
    "                        every rank in parallel\n"
    "  --batch-size K        K rows per batch (default: the archive's own batches;\n"
    "                        10000 for archives that have none); a batch never\n"
    "                        spans two archives\n"
    "  --pg CONNINFO         database (default: PG* environment, else the embedded one)\n"
    "  --force               replace an existing --out file\n"
    "  --allow-gaps          accept stream archives with batches missing between them\n"
    "  --allow-overlap       accept stream archives that repeat batches\n"
    "\n"
    "A stream's archives must be given in batch order, each batch once, none\n"
    "missing; the output may not be one of the inputs.\n";

typedef struct replay_args {
    job_config_t job;
    const char *snapshot, *out, *pg;
    int64_t batch_size;
    char **archives;
    int narchives;
    int force;
    unsigned allow; /* REPLAY_ALLOW_* */
} replay_args_t;

/* An HDF5 output must not be one of the inputs (the same file under any
 * name), nor replace a file without --force. 0, or 2 (printed when speak). */
static int check_output(const replay_args_t *a, int speak)
{
    struct stat out, in;
    if (strcmp(a->out, "postgres") == 0 || stat(a->out, &out) != 0) return 0;
    for (int i = 0; i < a->narchives; i++)
        if (stat(a->archives[i], &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
            if (speak)
                log_error("--out %s is the input archive %s: the results would replace it; "
                          "choose another file",
                          a->out, a->archives[i]);
            return 2;
        }
    if (!a->force) {
        if (speak)
            log_error("--out %s exists; add --force to replace it, or choose another file", a->out);
        return 2;
    }
    return 0;
}

/* 0 ok, 1 help, 2 usage error (printed when speak). */
static int parse_args(int argc, char **argv, replay_args_t *a, int speak)
{
    static const struct option opts[] = {{"from-snapshot", required_argument, 0, 's'},
                                         {"rules", required_argument, 0, 'r'},
                                         {"out", required_argument, 0, 'o'},
                                         {"batch-size", required_argument, 0, 'k'},
                                         {"pg", required_argument, 0, 'p'},
                                         {"force", no_argument, 0, 'f'},
                                         {"allow-gaps", no_argument, 0, 'g'},
                                         {"allow-overlap", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *rules = NULL, *size = NULL;
    int opt;
    memset(a, 0, sizeof *a);
    a->out = "postgres";
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            a->snapshot = optarg;
            break;
        case 'r':
            rules = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'k':
            size = optarg;
            break;
        case 'p':
            a->pg = optarg;
            break;
        case 'f':
            a->force = 1;
            break;
        case 'g':
            a->allow |= REPLAY_ALLOW_GAPS;
            break;
        case 'v':
            a->allow |= REPLAY_ALLOW_OVERLAP;
            break;
        case 'h':
            return 1;
        default:
            return speak ? cli_usage_error("replay", argv, optind, optopt) : 2;
        }
    }
    job_config_default(&a->job);
    if (!speak) log_set_quiet(1);
    if (rules) {
        char err[1024];
        if (job_config_load(&a->job, rules, err, sizeof err) != 0) {
            if (speak) log_error("%s", err);
            return 2;
        }
    }
    if (size && cli_parse_int64("--batch-size", size, 1, 100000000, &a->batch_size) != 0) return 2;
    if (strcmp(a->out, "postgres") != 0) {
        size_t n = strlen(a->out);
        if (n < 4 || strcmp(a->out + n - 3, ".h5") != 0) {
            if (speak)
                log_error("--out expects 'postgres' or a file name ending in .h5, got '%s'",
                          a->out);
            return 2;
        }
    }
    a->archives = argv + optind;
    a->narchives = argc - optind;
    if (a->narchives == 0) {
        if (speak) log_error("no archive given; see 'bankstream replay --help'");
        return 2;
    }
    return check_output(a, speak);
}

/* Collective: open the output. Returns 0 or -1 (logged on rank 0). */
static int open_output(const replay_args_t *a, const replay_t *r, MPI_Comm comm,
                       const char *conninfo, replay_out_t *out)
{
    char err[1024] = "", desc[1024], rules[512];
    const rules_config_t *c = &a->job.rules;
    int rank = 0, rc;
    MPI_Comm_rank(comm, &rank);
    int64_t batch_size = replay_batch_size(r);
    snprintf(rules, sizeof rules,
             "weight_t5=%g weight_t6=%g weight_t7=%g score_divisor=%g risk_threshold=%g "
             "t6_amount_cents=%" PRId64 " max_age_ms=%" PRId64 " limit_percent=%" PRId64
             " timezone=%s",
             c->weight_t5, c->weight_t6, c->weight_t7, c->score_divisor, c->risk_threshold,
             c->t6_amount_cents, c->max_age_ms, c->limit_percent, c->timezone);
    if (strcmp(a->out, "postgres") == 0) {
        snprintf(desc, sizeof desc, "replay of %d archive(s) from %s, %s%s, batches: %s; %s",
                 a->narchives, a->archives[0], a->snapshot ? "snapshot " : "usuarios",
                 a->snapshot ? a->snapshot : "", batch_size ? "fixed size" : "the archive's",
                 rules);
        rc = replay_out_postgres(out, comm, conninfo, desc, err, sizeof err);
    } else {
        h5results_meta_t meta = {(const char *const *)a->archives, a->narchives, batch_size, rules};
        rc = replay_out_hdf5(out, comm, a->out, replay_total_rows(r), &meta, err, sizeof err);
    }
    if (rc != 0 && rank == 0) log_error("%s", err);
    return rc;
}

/* This process's CPU seconds so far (user + system, every thread). */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Rank 0's *ok to every rank. 0 when it is true everywhere, -1 when not;
 * a failed broadcast ends the job (the ranks could no longer agree). */
static int share_ok(int *ok)
{
    char err[512];
    int mpi = MPI_Bcast(ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (mpi != MPI_SUCCESS) {
        exchange_mpi_error(mpi, "MPI_Bcast", err, sizeof err);
        log_error("%s; aborting the job", err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return *ok ? 0 : -1;
}

int cmd_replay(int argc, char **argv)
{
    int provided, rank = 0, status = 1;
    /* Serialized: with one rank, replay does its I/O on a second thread (replay.h). */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        log_error("MPI_Init failed; run under mpirun, or check the Open MPI installation");
        return 1;
    }
    int size = 1;
    char launch_err[1024];
    /* Errors come back as codes from here on, and every code is checked. */
    if (MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS) {
        log_error("MPI could not tell this rank its place; check the Open MPI installation");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (cluster_check_launch(size, launch_err, sizeof launch_err) != 0) {
        log_error("%s", launch_err);
        MPI_Finalize();
        return 1;
    }
    /* Across hosts, every line says where it comes from. */
    char where[MPI_MAX_PROCESSOR_NAME + 32];
    if (cluster_spans_hosts(MPI_COMM_WORLD, cluster_start_timeout(), where, sizeof where,
                            launch_err, sizeof launch_err) < 0) {
        log_error("%s; aborting the job", launch_err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    log_set_where(where);
    replay_args_t a;
    int parsed = parse_args(argc, argv, &a, rank == 0);
    if (parsed != 0) {
        if (parsed == 1 && rank == 0) fputs(usage_text, stdout);
        MPI_Finalize();
        return parsed == 1 ? 0 : 2;
    }

    cluster_t e;
    char err[1024] = "", conninfo[1024] = "";
    replay_out_t out = {0};
    replay_t *replay = NULL;
    PGconn *db = NULL;
    int ok = 1;
    if (cluster_init(&e, MPI_COMM_WORLD, &a.job, 1, err, sizeof err) != 0) {
        if (rank == 0) log_error("%s", err);
        cluster_free(&e);
        MPI_Finalize();
        return 1;
    }
    /* The archives first: a bad one fails before anything is loaded or written. */
    replay = replay_open(&e, a.archives, a.narchives, a.batch_size, a.allow, err, sizeof err);
    if (replay == NULL) {
        if (rank == 0) log_error("%s", err);
        goto done;
    }
    /* Rank 0 needs the database for usuarios or for the output. */
    int need_db = a.snapshot == NULL || strcmp(a.out, "postgres") == 0;
    if (rank == 0 && need_db) {
        ok = pgconn_resolve(a.pg, conninfo, sizeof conninfo, err, sizeof err) == 0;
        if (ok && a.snapshot == NULL)
            ok = (db = pgconn_open_wait(conninfo, PGCONN_WAIT_SECONDS, err, sizeof err)) != NULL;
        if (!ok) log_error("%s", err);
    }
    if (share_ok(&ok) != 0) goto done;

    /* Opening state. */
    if (a.snapshot) {
        h5snap_meta_t meta;
        if (cluster_step_snap_read(&e, a.snapshot, &meta, err, sizeof err) != 0) {
            if (rank == 0) log_error("%s", err);
            goto done;
        }
    } else if (rank == 0) {
        ok = loader_users(&e, db, err, sizeof err) == 0;
        if (!ok) log_error("loading usuarios: %s", err);
        if (cluster_command(&e, CLUSTER_CMD_STOP, err, sizeof err) != 0) {
            log_error("%s; aborting the job", err);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    } else if (cluster_serve(&e, err, sizeof err) != 0) {
        log_error("rank %d: %s; aborting the job", rank, err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (share_ok(&ok) != 0) goto done;

    if (strcmp(a.out, "postgres") != 0) { /* every rank writes the results file */
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", a.out);
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            snprintf(dir, sizeof dir, ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        if (cluster_check_shared_dir(&e, dir, err, sizeof err) != 0) {
            if (rank == 0) log_error("%s", err);
            goto done;
        }
    }
    double t0 = MPI_Wtime(), cpu0 = cpu_seconds();
    if (open_output(&a, replay, MPI_COMM_WORLD, conninfo, &out) != 0) goto done;
    replay_stats_t stats;
    int rc = replay_run(replay, &out, &stats, err, sizeof err);
    char cerr[1024] = "";
    long long id = rank == 0 ? replay_out_postgres_id(&out) : 0;
    if (out.close(out.state, rc == 0, cerr, sizeof cerr) != 0 && rc == 0) {
        snprintf(err, sizeof err, "%s", cerr);
        rc = -1;
    }
    double seconds = MPI_Wtime() - t0;
    /* The CPU time of the same span, summed over the ranks: the parallel
     * overhead (routing, waiting) shows there whatever the core count. */
    double cpu = cpu_seconds() - cpu0, cpu_all = cpu;
    if (MPI_Reduce(&cpu, &cpu_all, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        cpu_all = -1;
    if (rank == 0) {
        if (rc != 0) {
            log_error("%s", err[0] ? err : "the replay failed");
        } else {
            printf("replayed %" PRId64 " rows in %" PRId64 " batches, %.2f s, %.0f rows/s\n",
                   stats.rows, stats.batches, seconds,
                   seconds > 0 ? (double)stats.rows / seconds : 0.0);
            printf("rank 0: read %.2f s, write %.2f s%s, waited for them %.2f s; "
                   "route+decide %.2f s; open+publish %.2f s\n",
                   stats.read_seconds, stats.write_seconds,
                   stats.io_threaded ? " on a second thread" : "", stats.io_wait_seconds,
                   stats.decide_seconds, seconds - stats.io_wait_seconds - stats.decide_seconds);
            printf("routing: %s\n", stats.routing);
            if (cpu_all >= 0)
                printf("cpu: %.2f s user+sys over %d rank(s), %.3f s per million rows\n", cpu_all,
                       size, stats.rows > 0 ? cpu_all * 1e6 / (double)stats.rows : 0.0);
            printf("approved %" PRId64 ", rejected %" PRId64 ", not processed %" PRId64 "\n",
                   stats.by_status[STATUS_APPROVED], stats.by_status[STATUS_REJECTED],
                   stats.by_status[STATUS_NOT_PROCESSED]);
            if (id)
                printf("results: replay_resultados WHERE replay_id = %lld\n", id);
            else
                printf("results: %s\n", a.out);
        }
    }
    status = rc == 0 ? 0 : 1;
done:
    replay_close(replay);
    if (db) PQfinish(db);
    cluster_free(&e);
    MPI_Finalize();
    return status;
}
