/* cmd_run.c - `bankstream run`: the MPI micro-batch processor.
 *
 *   mpirun -np N bankstream run [JOBFILE] [--brokers B] [--topic T]
 *          [--pg CONNINFO] [--batch-size K] [--batch-ms MS] [--until-idle]
 *
 * Every rank parses the same arguments; rank 0 alone prints errors. Rank 0
 * runs the coordinator, the others serve it (cluster_serve). */
#include "base/cli.h"
#include "commands.h"
#include "stream/coordinator.h"
#include "cluster/cluster.h"
#include "engine/exchange.h"
#include "base/job.h"
#include "base/log.h"
#include "base/stop.h"
#include "pg/pgconn.h"

#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: mpirun -np N bankstream run [JOBFILE] [options]\n"
    "\n"
    "Consume the topic in micro-batches, decide every transaction on the worker\n"
    "that owns its payer, and commit each batch to PostgreSQL exactly once.\n"
    "\n"
    "  JOBFILE           INI job file (see jobs/local.ini); flags override it\n"
    "  --brokers B       Kafka bootstrap servers (default 127.0.0.1:9092)\n"
    "  --topic T         topic (default bank_transactions)\n"
    "  --pg CONNINFO     libpq conninfo (default: PG* environment, else the\n"
    "                    embedded cluster under ./var/pg)\n"
    "  --registry URL    schema registry of Avro messages, e.g.\n"
    "                    http://127.0.0.1:8081 (default: none; JSON needs none)\n"
    "  --batch-size K    messages per batch (default 10000)\n"
    "  --batch-ms MS     cut a batch MS after its first message (default 500;\n"
    "                    0 = count-bounded only, for reproducible batches;\n"
    "                    [batch] min_ms (10) while the sink is idle)\n"
    "  --snapshot-dir D  HDF5 snapshots go to and come from D (default\n"
    "                    var/snapshots; none = off)\n"
    "  --until-idle      exit 0 once the topic is drained and committed\n"
    "  --quiet           no progress lines or summary\n"
    "  --verbose         one line per batch with its timings\n"
    "  --accept-gap      go on although the topic is not the one batch_log describes\n"
    "                    (messages deleted before they were read, a recreated or\n"
    "                    refilled topic); recorded in batch_log.nota\n"
    "  --sink none       decide but write nothing and commit no offsets\n"
    "                    (measures consume, decode and decide alone)\n"
    "\n"
    "SIGUSR1 (forwarded by mpirun), SIGINT or SIGTERM finish and commit the batch in\n"
    "flight, write a snapshot, then exit 0.\n";

/* Parse argv into job. Returns 0, 1 for --help, or 2 for a usage error
 * (message printed when `speak`). */
static int parse_args(int argc, char **argv, job_config_t *job, int speak)
{
    static const struct option opts[] = {
        {"brokers", required_argument, 0, 'b'},  {"topic", required_argument, 0, 't'},
        {"pg", required_argument, 0, 'p'},       {"batch-size", required_argument, 0, 'k'},
        {"batch-ms", required_argument, 0, 'm'}, {"until-idle", no_argument, 0, 'i'},
        {"quiet", no_argument, 0, 'q'},          {"verbose", no_argument, 0, 'v'},
        {"sink", required_argument, 0, 's'},     {"snapshot-dir", required_argument, 0, 'd'},
        {"accept-gap", no_argument, 0, 'g'},     {"registry", required_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *brokers = NULL, *topic = NULL, *pg = NULL, *size = NULL, *ms = NULL;
    const char *snapdir = NULL, *registry = NULL;
    int opt, until_idle = 0, quiet = 0, sink_off = 0, accept_gap = 0;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            brokers = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'p':
            pg = optarg;
            break;
        case 'k':
            size = optarg;
            break;
        case 'm':
            ms = optarg;
            break;
        case 'i':
            until_idle = 1;
            break;
        case 'g':
            accept_gap = 1;
            break;
        case 'd':
            snapdir = optarg;
            break;
        case 'r':
            registry = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'v':
            log_set_verbose(speak);
            break;
        case 's':
            if (strcmp(optarg, "postgres") && strcmp(optarg, "none")) {
                if (speak) log_error("--sink expects 'postgres' or 'none', got '%s'", optarg);
                return 2;
            }
            sink_off = strcmp(optarg, "none") == 0;
            break;
        case 'h':
            return 1;
        default:
            return speak ? cli_usage_error("run", argv, optind, optopt) : 2;
        }
    }
    job_config_default(job);
    if (optind < argc) {
        char err[1024];
        if (optind + 1 < argc) return speak ? cli_extra_argument("run", argv[optind + 1]) : 2;
        if (job_config_load(job, argv[optind], err, sizeof err) != 0) {
            if (speak) log_error("%s", err);
            return 2;
        }
    }
    if (!speak) log_set_quiet(1);
    if ((topic && (!*topic || topic[0] == '-')) || (brokers && (!*brokers || brokers[0] == '-'))) {
        if (speak)
            log_error("--%s needs a value, got '%s'",
                      topic && (!*topic || topic[0] == '-') ? "topic" : "brokers",
                      topic && (!*topic || topic[0] == '-') ? topic : brokers);
        return 2;
    }
    if (brokers) job_config_set_kafka(job, "bootstrap.servers", brokers);
    if (registry && job_config_set_registry(job, "url", registry) != 0) {
        if (speak) log_error("--registry: URL longer than 1023 bytes");
        return 2;
    }
    if (topic) snprintf(job->topic, sizeof job->topic, "%s", topic);
    /* mpirun drops empty arguments, so "none" is how a flag turns snapshots off. */
    if (snapdir)
        snprintf(job->snapshot_dir, sizeof job->snapshot_dir, "%s",
                 strcmp(snapdir, "none") == 0 ? "" : snapdir);
    if (pg) {
        snprintf(job->conninfo, sizeof job->conninfo, "%s", pg);
        job->conninfo_set = 1;
    }
    if (size && cli_parse_int64("--batch-size", size, 1, 10000000, &job->batch_size) != 0) return 2;
    if (ms && cli_parse_int64("--batch-ms", ms, 0, 3600000, &job->batch_max_ms) != 0) return 2;
    job->until_idle = until_idle;
    job->accept_gap = accept_gap;
    job->quiet = quiet;
    job->sink_off = sink_off;
    if (quiet) log_set_quiet(1);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    int provided, rank = 0, size = 1, status = 1;
    stop_install_signals(); /* before MPI_Init: a stop signal may come at any time */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        log_error("MPI_Init failed; run under mpirun, or check the Open MPI installation");
        return 1;
    }
    /* Errors come back as codes from here on, and every code is checked. */
    if (MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS) {
        log_error("MPI could not tell this rank its place; check the Open MPI installation");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    job_config_t job;
    int parsed = parse_args(argc, argv, &job, rank == 0);
    if (parsed == 1) {
        if (rank == 0) fputs(usage_text, stdout);
        MPI_Finalize();
        return 0;
    }
    if (parsed != 0) {
        MPI_Finalize();
        return 2;
    }
    char err[1024], where[MPI_MAX_PROCESSOR_NAME + 32];
    if (cluster_check_launch(size, err, sizeof err) != 0) {
        log_error("%s", err);
        MPI_Finalize();
        return 1;
    }
    /* Across hosts, every line says where it comes from. */
    if (cluster_spans_hosts(MPI_COMM_WORLD, cluster_start_timeout(), where, sizeof where, err,
                            sizeof err) < 0) {
        log_error("%s; aborting the job", err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    log_set_where(where);

    /* Rank 0 finds the database (maybe starting the embedded cluster) and
     * tells the others whether to go on. */
    char conninfo[1024] = "";
    int ok = 1;
    if (rank == 0 && pgconn_resolve(job.conninfo_set ? job.conninfo : NULL, conninfo,
                                    sizeof conninfo, err, sizeof err) != 0) {
        log_error("%s", err);
        ok = 0;
    }
    int mpi = MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (mpi != MPI_SUCCESS) {
        exchange_mpi_error(mpi, "MPI_Bcast", err, sizeof err);
        log_error("rank %d: %s; aborting the job", rank, err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (!ok) {
        MPI_Finalize();
        return 1;
    }

    cluster_t cluster;
    if (cluster_init(&cluster, MPI_COMM_WORLD, &job, 0, err, sizeof err) != 0) {
        if (rank == 0) log_error("%s", err);
        cluster_free(&cluster);
        MPI_Finalize();
        return 1;
    }
    if (job.snapshot_dir[0] &&
        cluster_check_shared_dir(&cluster, job.snapshot_dir, err, sizeof err) != 0) {
        if (rank == 0) log_error("%s", err);
        cluster_free(&cluster);
        MPI_Finalize();
        return 1;
    }
    if (rank == 0) {
        status = coordinator_run(&cluster, &job, conninfo);
    } else {
        if (cluster_serve(&cluster, err, sizeof err) != 0) {
            log_error("worker rank %d: %s; aborting the job", rank, err);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        status = 0;
    }
    cluster_free(&cluster);
    MPI_Finalize();
    return status;
}
