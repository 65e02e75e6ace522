/* cmd_dashboard.c - `bankstream dashboard`: the original's Streamlit
 * dashboard and Kafka UI panel as one web page served by bankstream.
 *
 * Life cycle (one process, not under MPI):
 *   parse flags -> block SIGINT/SIGTERM -> database pool (dash_db: waits for
 *   the server like the other commands) -> the aggregates' catch-up
 *   (dash_refresh, unless --refresh-ms 0) -> pollers (dash_metrics with
 *   --metrics, dash_kafka unless --brokers none) -> web server (dash_http)
 *   -> print the address -> wait for a stop signal -> stop in reverse order.
 * Files of src/dashboard/, in reading order: cmd_dashboard (this), dash_http
 * (routing, assets), dash_api (parameters and the SQL of each endpoint),
 * dash_db (the read-only connection pool), dash_refresh (the aggregates'
 * catch-up), dash_metrics and dash_kafka (the two pollers), dash_buf (JSON
 * text). The aggregates the SQL reads, and the functions that keep them,
 * are created by pg/schema_dashboard.c. */
#include "base/cli.h"
#include "base/log.h"
#include "commands.h"
#include "dashboard/dash_api.h"
#include "dashboard/dash_assets.h"
#include "dashboard/dash_db.h"
#include "dashboard/dash_http.h"
#include "dashboard/dash_kafka.h"
#include "dashboard/dash_metrics.h"
#include "dashboard/dash_refresh.h"
#include "kafka/kafka_conf.h"
#include "pg/pgconn.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DASH_DEFAULT_PORT       8501 /* Streamlit's, where the original's dashboard was */
#define DASH_DEFAULT_REFRESH_MS 1000

typedef struct dash_opts {
    const char *pg, *listen, *metrics, *topic, *brokers, *group;
    int64_t port, connections, timeout_ms, pg_wait, refresh_ms;
} dash_opts_t;

static void dash_usage(FILE *out)
{
    fprintf(out,
            "usage: bankstream dashboard [--port P] [--listen ADDR] [--pg CONNINFO]\n"
            "                            [--metrics URL] [--topic T] [--brokers B] [--group G]\n"
            "                            [--refresh-ms MS]\n"
            "\n"
            "Serve the dashboard: the last results live, the ten analyses of the original's\n"
            "dashboard, the processor's health, the topic's partitions and lag, and the dead\n"
            "letters. Everything is computed by PostgreSQL from bankstream's aggregates,\n"
            "which this process brings up to the newest committed batch every --refresh-ms\n"
            "(dashboard_atualizar(); the processor's own transactions do no aggregate work);\n"
            "the page and its libraries are inside this binary (no internet needed).\n"
            "\n"
            "  --port P         TCP port (default %d; 0 picks a free one)\n"
            "  --listen ADDR    address to listen on (default 127.0.0.1: this machine only;\n"
            "                   0.0.0.0 or :: to serve other hosts)\n"
            "  --pg CONNINFO    libpq conninfo; use the read-only role of\n"
            "                   'bankstream init --reader-role NAME' (default: PG* environment,\n"
            "                   else the embedded cluster). The sessions that answer requests\n"
            "                   are read-only anyway.\n"
            "  --metrics URL    the processor's metrics, http://127.0.0.1:P/metrics with\n"
            "                   [metrics] port = P in its job file (default: no health panel)\n"
            "  --brokers B      Kafka bootstrap servers (default %s; 'none': no topic panel)\n"
            "  --topic T        topic to show (default bank_transactions)\n"
            "  --group G        consumer group whose offsets and lag to show (default bankstream)\n"
            "  --connections N  PostgreSQL connections, 1..16 (default 4)\n"
            "  --timeout-ms MS  statement_timeout of every query (default 5000)\n"
            "  --pg-wait S      wait up to S seconds for the database at start (default %d)\n"
            "  --refresh-ms MS  count newly committed batches into the aggregates every MS\n"
            "                   (default %d; 0: never, another dashboard or a job does it)\n",
            DASH_DEFAULT_PORT, KAFKA_CONF_DEFAULT_BROKERS, PGCONN_WAIT_SECONDS,
            DASH_DEFAULT_REFRESH_MS);
}

/* Returns -1 to go on, else the exit status (0 after --help, 2 on error). */
static int dash_parse(int argc, char **argv, dash_opts_t *o)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'P'},
        {"listen", required_argument, NULL, 'l'},
        {"pg", required_argument, NULL, 'p'},
        {"metrics", required_argument, NULL, 'm'},
        {"topic", required_argument, NULL, 't'},
        {"brokers", required_argument, NULL, 'b'},
        {"group", required_argument, NULL, 'g'},
        {"connections", required_argument, NULL, 'c'},
        {"timeout-ms", required_argument, NULL, 'T'},
        {"pg-wait", required_argument, NULL, 'w'},
        {"refresh-ms", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (dash_opts_t){NULL,
                       "127.0.0.1",
                       NULL,
                       "bank_transactions",
                       KAFKA_CONF_DEFAULT_BROKERS,
                       "bankstream",
                       DASH_DEFAULT_PORT,
                       4,
                       5000,
                       PGCONN_WAIT_SECONDS,
                       DASH_DEFAULT_REFRESH_MS};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'P':
            if (cli_parse_int64("--port", optarg, 0, 65535, &o->port)) return 2;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'p':
            o->pg = optarg;
            break;
        case 'm':
            o->metrics = optarg;
            break;
        case 't':
            if (*optarg == '\0') {
                log_error("--topic is empty; give a topic name");
                return 2;
            }
            o->topic = optarg;
            break;
        case 'b':
            o->brokers = optarg;
            break;
        case 'g':
            if (*optarg == '\0') {
                log_error("--group is empty; give a consumer group name");
                return 2;
            }
            o->group = optarg;
            break;
        case 'c':
            if (cli_parse_int64("--connections", optarg, 1, 16, &o->connections)) return 2;
            break;
        case 'T':
            if (cli_parse_int64("--timeout-ms", optarg, 100, 600000, &o->timeout_ms)) return 2;
            break;
        case 'w':
            if (cli_parse_int64("--pg-wait", optarg, 0, 86400, &o->pg_wait)) return 2;
            break;
        case 'r':
            if (cli_parse_int64("--refresh-ms", optarg, 0, 3600000, &o->refresh_ms)) return 2;
            break;
        case 'h':
            dash_usage(stdout);
            return 0;
        default:
            return cli_usage_error("dashboard", argv, optind, optopt);
        }
    }
    if (optind < argc) return cli_extra_argument("dashboard", argv[optind]);
    return -1;
}

int cmd_dashboard(int argc, char **argv)
{
    dash_opts_t o;
    int prc = dash_parse(argc, argv, &o);
    if (prc >= 0) return prc;

    char err[1024], conninfo[2048];
    int rc = 1;
    dash_db_t *db = NULL;
    dash_refresh_t *refresh = NULL;
    dash_metrics_t *metrics = NULL;
    dash_kafka_t *kafka = NULL;
    dash_http_t *http = NULL;
    sigset_t stop;

    /* Block the stop signals before any thread exists: only sigwait below
     * receives them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    if (pgconn_resolve(o.pg, conninfo, sizeof conninfo, err, sizeof err) != 0) {
        log_error("%s", err);
        goto done;
    }
    /* Wait for the server as the other commands do, then open the pool. */
    PGconn *probe = pgconn_open_wait(conninfo, (int)o.pg_wait, err, sizeof err);
    if (probe == NULL) {
        log_error("%s", err);
        goto done;
    }
    PQfinish(probe);
    db = dash_db_open(conninfo, (int)o.connections, (int)o.timeout_ms, err, sizeof err);
    if (db == NULL) {
        log_error("%s", err);
        goto done;
    }
    char *have = NULL;
    size_t havelen = 0;
    if (dash_db_json(db, "SELECT to_json(to_regclass('dashboard_resumo') IS NOT NULL)", 0, NULL,
                     &have, &havelen, err, sizeof err) == 0 &&
        strcmp(have, "true") != 0)
        log_warn("the database has no dashboard aggregates (table dashboard_resumo); the "
                 "analyses stay empty until 'bankstream init' of this version creates them "
                 "(a database initialized by an older version: 'bankstream init --force')");
    free(have);
    if (o.refresh_ms > 0) {
        refresh =
            dash_refresh_start(conninfo, (int)o.refresh_ms, (int)o.timeout_ms, err, sizeof err);
        if (refresh == NULL) {
            log_error("%s", err);
            goto done;
        }
    }
    if (dash_assets_incomplete)
        log_warn("this binary was built without the web libraries (web/node_modules); run "
                 "'make deps' and rebuild: the page shows only that message");

    if (o.metrics && *o.metrics) {
        metrics = dash_metrics_start(o.metrics, 2000, err, sizeof err);
        if (metrics == NULL) {
            log_error("%s", err);
            rc = 2;
            goto done;
        }
    }
    if (strcmp(o.brokers, "none") != 0) {
        kafka = dash_kafka_start(o.brokers, o.topic, o.group, 5000, err, sizeof err);
        if (kafka == NULL) {
            log_error("%s", err);
            goto done;
        }
    }
    dash_api_t api = {db, metrics, kafka};
    http = dash_http_start(o.listen, (int)o.port, 4, &api, err, sizeof err);
    if (http == NULL) {
        log_error("%s", err);
        goto done;
    }
    int ipv6 = strchr(o.listen, ':') != NULL;
    printf("http://%s%s%s:%d/\n", ipv6 ? "[" : "", o.listen, ipv6 ? "]" : "", dash_http_port(http));
    fflush(stdout);
    log_info("serving on %s port %d (stop with Ctrl-C or SIGTERM)", o.listen, dash_http_port(http));
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("stopping (signal %d)", sig);
    rc = 0;
done:
    dash_http_stop(http);
    dash_kafka_stop(kafka);
    dash_metrics_stop(metrics);
    dash_refresh_stop(refresh);
    dash_db_close(db);
    return rc;
}
