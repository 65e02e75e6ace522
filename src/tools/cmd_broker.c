/* cmd_broker.c - `bankstream broker`: an embedded Kafka-protocol broker.
 *
 * Serves the Kafka protocol with librdkafka's mock cluster, so the tools and
 * the tests need no real Kafka. The mock listens on ephemeral 127.0.0.1 ports
 * and advertises them in its metadata; for a fixed --port a relay
 * (broker_relay.c) forwards P to the mock's bootstrap address, and clients
 * then follow the advertised address for produce and fetch. With --listen
 * ADDR (not loopback), clients on other hosts cannot reach 127.0.0.1: one
 * relay per mock broker listens on ADDR (P, P+1, ...) and rewrites the
 * addresses in Metadata and FindCoordinator responses to ADDR:P, so all of
 * their traffic flows through the relays.
 *
 * With --registry-port P it also serves an in-memory Schema Registry
 * (registry_server.h) on ADDR:P (127.0.0.1 by default), so that Avro
 * producers and the processor need nothing else.
 *
 * Start-up order, each step undone in reverse on failure or at shutdown:
 *   bind the first relay's port (fails fast with "port in use") -> the registry
 *   -> rd_kafka_t (producer type, only hosts the mock) -> mock cluster
 *   -> topic -> lift retention -> relays forwarding -> print the address
 *   -> wait for SIGINT/SIGTERM -> close relays, destroy cluster, destroy handle.
 *
 * Retention: librdkafka 2.0.2's mock keeps at most 5 MiB or 100,000 message
 * sets per partition and silently drops the oldest beyond that. bankstream
 * needs every message kept (the processor seeks to offsets logged in
 * PostgreSQL), so mock_retention_lift() raises both limits on every topic,
 * including topics clients auto-create later (swept every 2 ms: a producer
 * can write 5 MiB into a new topic within tens of milliseconds, and 20 ms
 * lost messages under load).
 * It does so through a mirror of the library's private structs, guarded by an
 * exact version check and by validating every field it relies on; when a
 * check fails it changes nothing and the broker warns once. */
#include "tools/broker_relay.h"
#include "tools/registry_server.h"
#include "base/cli.h"
#include "commands.h"
#include "base/log.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BROKER_DEFAULT_PORT       9092
#define BROKER_DEFAULT_TOPIC      "bank_transactions"
#define BROKER_DEFAULT_PARTITIONS 4
#define BROKER_MAX_PARTITIONS     1000
#define BROKER_MAX_TOPICS         64
#define BROKER_SWEEP_MS           2 /* retention sweep for auto-created topics */
#define BROKER_MAX_RELAYS         BROKER_RELAY_MAX_ROUTES

struct broker_opts {
    int port;
    const char *listen; /* the address to bind (and advertise, when not loopback) */
    int registry_port;  /* 0: no registry */
    int partitions;
    const char *topics[BROKER_MAX_TOPICS];
    int topic_cnt;
    const char *brokers_file;
};

static void broker_usage(FILE *out)
{
    fprintf(out,
            "usage: bankstream broker [--listen ADDR] [--port P] [--partitions N] [--topic T]... "
            "[--brokers-file FILE]\n"
            "                         [--registry-port P]\n"
            "\n"
            "Serve the Kafka protocol (librdkafka's in-memory mock cluster). Prints the\n"
            "bootstrap address (ADDR:P) on one line, then runs until SIGINT or SIGTERM.\n"
            "Every produced message is kept in memory until exit.\n"
            "\n"
            "  --listen ADDR       address to serve on (default 127.0.0.1). Another address\n"
            "                      of this host (e.g. the one other hosts reach) is also the\n"
            "                      one advertised to clients: every connection then flows\n"
            "                      through a relay on ADDR:P (P+1... for more brokers)\n"
            "  --port P            bootstrap port (default %d); 0 = no relay, print the\n"
            "                      mock's own ephemeral 127.0.0.1 address\n"
            "  --partitions N      partitions of each --topic (default %d, 1-%d)\n"
            "  --topic T           topic to create (default %s); repeatable. Unknown\n"
            "                      topics are auto-created with 4 partitions on first use\n"
            "  --brokers-file FILE also write the address to FILE once ready (removed at exit)\n"
            "  --registry-port P   also serve an in-memory Schema Registry (the Confluent\n"
            "                      REST API producers and consumers use) on\n"
            "                      http://ADDR:P (default: none)\n"
            "  -h, --help          this text\n",
            BROKER_DEFAULT_PORT, BROKER_DEFAULT_PARTITIONS, BROKER_MAX_PARTITIONS,
            BROKER_DEFAULT_TOPIC);
}

/* Kafka's rule for topic names: 1-249 characters of [a-zA-Z0-9._-]. */
static int broker_topic_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249) return 0;
    return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Whether clients reach addr only from this host (no rewriting needed). */
static int broker_is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

/* Fill opts from argv. Returns -1 when the options are good, otherwise the
 * exit status to return (0 after --help, 2 after a usage error, printed). */
static int broker_parse_args(int argc, char **argv, struct broker_opts *opts)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},   {"partitions", required_argument, NULL, 'n'},
        {"topic", required_argument, NULL, 't'},  {"brokers-file", required_argument, NULL, 'f'},
        {"listen", required_argument, NULL, 'l'}, {"registry-port", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int64_t v;
    int c;

    *opts = (struct broker_opts){.port = BROKER_DEFAULT_PORT,
                                 .partitions = BROKER_DEFAULT_PARTITIONS,
                                 .listen = "127.0.0.1"};
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cli_parse_int64("--port", optarg, 0, 65535, &v) < 0) return 2;
            opts->port = (int)v;
            break;
        case 'r':
            if (cli_parse_int64("--registry-port", optarg, 1, 65535, &v) < 0) return 2;
            opts->registry_port = (int)v;
            break;
        case 'n':
            if (cli_parse_int64("--partitions", optarg, 1, BROKER_MAX_PARTITIONS, &v) < 0) return 2;
            opts->partitions = (int)v;
            break;
        case 't':
            if (!broker_topic_valid(optarg)) {
                log_error("--topic expects 1-249 characters of a-z A-Z 0-9 . _ -, got '%s'",
                          optarg);
                return 2;
            }
            if (opts->topic_cnt == BROKER_MAX_TOPICS) {
                log_error("at most %d --topic options are supported", BROKER_MAX_TOPICS);
                return 2;
            }
            opts->topics[opts->topic_cnt++] = optarg;
            break;
        case 'l':
            if (*optarg == '\0') {
                log_error("--listen expects an address of this host, e.g. 10.0.0.1");
                return 2;
            }
            opts->listen = strcmp(optarg, "localhost") ? optarg : "127.0.0.1";
            break;
        case 'f':
            if (*optarg == '\0') {
                log_error("--brokers-file expects a file name");
                return 2;
            }
            opts->brokers_file = optarg;
            break;
        case 'h':
            broker_usage(stdout);
            return 0;
        default:
            return cli_usage_error("broker", argv, optind, optopt);
        }
    }
    if (optind < argc) return cli_extra_argument("broker", argv[optind]);
    if (opts->topic_cnt == 0) opts->topics[opts->topic_cnt++] = BROKER_DEFAULT_TOPIC;
    if (opts->port == 0 && !broker_is_loopback(opts->listen)) {
        log_error("--listen %s needs a fixed --port: clients on other hosts reach the broker "
                  "through relays on that port",
                  opts->listen);
        return 2;
    }
    return -1;
}

/* ---- Mock retention (see the file comment) ------------------------------
 *
 * Mirrors of librdkafka 2.0.2 src/rdkafka_mock_int.h, leading fields only
 * (the cluster and topic) or whole (the partition: its size is the stride of
 * the topic's partition array). Field types follow the original exactly:
 * TAILQ_HEAD/TAILQ_ENTRY are two pointers, rd_bool_t is uint8_t, rd_list_t
 * is the struct below. */
#define MOCK_LAYOUT_VERSION   0x020002ff /* rd_kafka_version() of 2.0.2 */
#define MOCK_DEFAULT_MAX_SIZE ((size_t)1024 * 1024 * 5)
#define MOCK_DEFAULT_MAX_CNT  ((size_t)100000)
#define MOCK_MAX_TOPIC_WALK   100000

struct mock202_topic;

struct mock202_cluster {
    char id[32];
    rd_kafka_t *rk;
    int32_t controller_id;
    struct {
        void *tqh_first, **tqh_last;
    } brokers;
    int broker_cnt;
    struct {
        struct mock202_topic *tqh_first, **tqh_last;
    } topics;
    int topic_cnt;
};

struct mock202_list {
    int rl_size, rl_cnt;
    void **rl_elems;
    void (*rl_free_cb)(void *);
    int rl_flags, rl_elemsize;
    void *rl_p;
};

struct mock202_partition {
    struct {
        void *tqe_next, **tqe_prev;
    } leader_link;
    int32_t id;
    int64_t start_offset, end_offset, follower_start_offset, follower_end_offset;
    uint8_t update_follower_start_offset, update_follower_end_offset;
    struct {
        void *tqh_first, **tqh_last;
    } msgsets;
    size_t size, cnt, max_size, max_cnt;
    struct {
        void *tqh_first, **tqh_last;
    } committed_offsets;
    void *leader;
    void **replicas;
    int replica_cnt;
    struct mock202_list pidstates;
    int32_t follower_id;
    struct mock202_topic *topic;
};

struct mock202_topic {
    struct {
        struct mock202_topic *tqe_next, **tqe_prev;
    } link;
    char *name;
    struct mock202_partition *partitions;
    int partition_cnt;
    int err;
    struct mock202_cluster *cluster;
};

/* Fields the mock thread may be writing while we read: load them once. */
#define MOCK_LOAD(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)

/* Whether the library loaded at run time has the mirrored layout, checked
 * against fields whose values we know. */
static int mock_layout_matches(rd_kafka_mock_cluster_t *mcluster, rd_kafka_t *rk)
{
    const struct mock202_cluster *mc = (const void *)mcluster;
    if (rd_kafka_version() != MOCK_LAYOUT_VERSION) return 0;
    if (mc->rk != rk || mc->broker_cnt != 1) return 0;
    return memchr(mc->id, '\0', sizeof mc->id) != NULL;
}

/* Raise the retention limits of every partition of every topic that still
 * has the library defaults. A topic whose fields do not all look exactly as
 * expected (for instance one the mock thread is still initialising) is left
 * alone until the next call. Returns the number of partitions changed. */
static int mock_retention_lift(rd_kafka_mock_cluster_t *mcluster)
{
    struct mock202_cluster *mc = (void *)mcluster;
    int changed = 0, walked = 0;

    for (struct mock202_topic *t = MOCK_LOAD(mc->topics.tqh_first);
         t != NULL && walked < MOCK_MAX_TOPIC_WALK; t = MOCK_LOAD(t->link.tqe_next), walked++) {
        struct mock202_partition *parts = MOCK_LOAD(t->partitions);
        int cnt = MOCK_LOAD(t->partition_cnt), ok = 1;
        if (t->cluster != mc || parts == NULL || cnt <= 0) continue;
        for (int i = 0; i < cnt && ok; i++) {
            const struct mock202_partition *p = &parts[i];
            size_t max_size = MOCK_LOAD(p->max_size), max_cnt = MOCK_LOAD(p->max_cnt);
            ok = MOCK_LOAD(p->id) == i && MOCK_LOAD(p->topic) == t &&
                 ((max_size == MOCK_DEFAULT_MAX_SIZE && max_cnt == MOCK_DEFAULT_MAX_CNT) ||
                  (max_size == SIZE_MAX && max_cnt == SIZE_MAX));
        }
        if (!ok) continue;
        for (int i = 0; i < cnt; i++) {
            struct mock202_partition *p = &parts[i];
            if (p->max_size == SIZE_MAX) continue;
            __atomic_store_n(&p->max_size, SIZE_MAX, __ATOMIC_RELEASE);
            __atomic_store_n(&p->max_cnt, SIZE_MAX, __ATOMIC_RELEASE);
            changed++;
        }
    }
    return changed;
}

/* ---- Start-up and shutdown ---------------------------------------------- */

/* librdkafka log lines (from its threads) as one-line warnings. */
static void broker_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_warn("librdkafka %s: %s", fac, buf);
}

/* Write addr to path atomically (temporary file + rename). Returns 0, or -1
 * with errstr filled and no file left behind. */
static int broker_write_file(const char *path, const char *addr, char *errstr, size_t errstr_size)
{
    char tmp[4096];
    FILE *f = NULL;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(errstr, errstr_size, "file name too long: %s", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL) goto fail;
    if (fprintf(f, "%s\n", addr) < 0) goto fail;
    int closed = fclose(f);
    f = NULL;
    if (closed != 0 || rename(tmp, path) != 0) goto fail;
    return 0;
fail:
    snprintf(errstr, errstr_size, "cannot write %s: %s", path, strerror(errno));
    if (f != NULL) fclose(f);
    unlink(tmp);
    return -1;
}

static void broker_relay_log(const char *line)
{
    log_warn("%s", line);
}

/* Open relay i on opts->listen, port opts->port + i. 0, or -1 after saying
 * why. */
static int broker_open_relay(const struct broker_opts *opts, int i, broker_relay_t **relay)
{
    char errstr[512];
    int port = opts->port + i;
    int r = broker_relay_open(opts->listen, port, relay, errstr, sizeof errstr);
    if (r == BROKER_RELAY_EADDRINUSE)
        log_error("port %d is in use on %s; pick another with --port or stop the process using it",
                  port, opts->listen);
    else if (r == BROKER_RELAY_ENOTLOCAL)
        log_error("--listen %s is not an address of this host (ip -br addr lists them)",
                  opts->listen);
    else if (r != BROKER_RELAY_OK)
        log_error("%s; pick another --port", errstr);
    return r == BROKER_RELAY_OK ? 0 : -1;
}

/* Start forwarding to the mock's brokers (bootstraps: "127.0.0.1:P1,..."):
 * relay 0 (open already) alone to the bootstrap address when the listen
 * address is loopback; otherwise one relay per broker, each rewriting every
 * broker's advertised address to its own relay. *nrelays counts the relays
 * open, also on failure. 0, or -1 after saying why. */
static int broker_start_relays(const struct broker_opts *opts, const char *bootstraps,
                               broker_relay_t **relays, int *nrelays)
{
    char errstr[512];
    broker_relay_route_t routes[BROKER_MAX_RELAYS];
    const char *entry[BROKER_MAX_RELAYS];
    int n = 0;
    for (const char *p = bootstraps; p && *p && n < BROKER_MAX_RELAYS; n++) {
        entry[n] = p;
        const char *comma = strchr(p, ',');
        const char *colon = memrchr(p, ':', comma ? (size_t)(comma - p) : strlen(p));
        routes[n].upstream_port = colon ? atoi(colon + 1) : 0;
        snprintf(routes[n].host, sizeof routes[n].host, "%s", opts->listen);
        routes[n].port = opts->port + n;
        p = comma ? comma + 1 : NULL;
    }
    if (n == 0) {
        log_error("the mock cluster gave no broker address ('%s')", bootstraps);
        return -1;
    }
    int rewrite = !broker_is_loopback(opts->listen);
    if (!rewrite) n = 1; /* clients follow the mock's own addresses */
    for (int i = *nrelays; i < n; i++) {
        if (broker_open_relay(opts, i, &relays[i]) != 0) return -1;
        *nrelays = i + 1;
    }
    for (int i = 0; i < n; i++) {
        if (routes[i].upstream_port <= 0) {
            log_error("cannot read the mock's broker address '%s'", bootstraps);
            return -1;
        }
        broker_relay_set_log(relays[i], broker_relay_log);
        if ((rewrite && broker_relay_set_routes(relays[i], routes, n, errstr, sizeof errstr) !=
                            BROKER_RELAY_OK) ||
            broker_relay_start(relays[i], entry[i], errstr, sizeof errstr) != BROKER_RELAY_OK) {
            log_error("%s", errstr);
            return -1;
        }
    }
    return 0;
}

/* Wait for SIGINT or SIGTERM (blocked in every thread), sweeping retention
 * limits meanwhile when the layout is known. */
static void broker_wait_for_signal(const sigset_t *stop, rd_kafka_mock_cluster_t *mcluster,
                                   int sweep)
{
    const struct timespec tick = {0, BROKER_SWEEP_MS * 1000000L};
    for (;;) {
        int sig = sweep ? sigtimedwait(stop, NULL, &tick) : sigwaitinfo(stop, NULL);
        if (sig == SIGINT || sig == SIGTERM) return;
        if (sweep) mock_retention_lift(mcluster);
    }
}

int cmd_broker(int argc, char **argv)
{
    struct broker_opts opts;
    char errstr[512];
    broker_relay_t *relays[BROKER_MAX_RELAYS] = {NULL};
    int nrelays = 0;
    registry_server_t *registry = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    sigset_t stop, oldmask;
    char addr[256];
    int rc = 1, wrote_file = 0, sweep = 0;

    int prc = broker_parse_args(argc, argv, &opts);
    if (prc >= 0) return prc;

    /* Block the stop signals before any thread exists, so every thread
     * inherits the mask and only sigtimedwait() below receives them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &oldmask);

    if (opts.port != 0) {
        if (broker_open_relay(&opts, 0, &relays[0]) != 0) goto done;
        nrelays = 1;
    }

    if (opts.registry_port != 0) {
        registry = registry_server_start(opts.listen, opts.registry_port, errstr, sizeof errstr);
        if (registry == NULL) {
            log_error("%s; pick another --registry-port or stop the process using it", errstr);
            goto done;
        }
        log_info("schema registry on http://%s:%d", opts.listen, opts.registry_port);
    }

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "bankstream-broker", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr)) {
        log_error("cannot configure librdkafka: %s", errstr);
        goto done;
    }
    rd_kafka_conf_set_log_cb(conf, broker_rdkafka_log);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        log_error("cannot create the librdkafka handle: %s", errstr);
        goto done;
    }
    conf = NULL; /* owned by rk now */

    mcluster = rd_kafka_mock_cluster_new(rk, 1);
    if (mcluster == NULL) {
        log_error("cannot start librdkafka's mock cluster (see the messages above)");
        goto done;
    }
    for (int i = 0; i < opts.topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, opts.topics[i], opts.partitions, 1);
        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            log_warn("--topic %s given twice; created once", opts.topics[i]);
        } else if (err) {
            log_error("cannot create topic %s with %d partitions: %s", opts.topics[i],
                      opts.partitions, rd_kafka_err2str(err));
            goto done;
        }
    }

    sweep = mock_layout_matches(mcluster, rk);
    if (sweep)
        mock_retention_lift(mcluster);
    else
        log_warn("cannot lift the mock cluster's retention limit on librdkafka %s (made for "
                 "2.0.2): each partition keeps only its newest 5 MiB",
                 rd_kafka_version_str());

    if (nrelays > 0) {
        if (broker_start_relays(&opts, rd_kafka_mock_cluster_bootstraps(mcluster), relays,
                                &nrelays) != 0)
            goto done;
        int v6 = strchr(opts.listen, ':') != NULL;
        snprintf(addr, sizeof addr, "%s%s%s:%d", v6 ? "[" : "", opts.listen, v6 ? "]" : "",
                 opts.port);
    } else {
        snprintf(addr, sizeof addr, "%s", rd_kafka_mock_cluster_bootstraps(mcluster));
    }

    if (opts.brokers_file != NULL) {
        if (broker_write_file(opts.brokers_file, addr, errstr, sizeof errstr) < 0) {
            log_error("%s; check the --brokers-file path", errstr);
            goto done;
        }
        wrote_file = 1;
    }
    printf("%s\n", addr);
    fflush(stdout);

    broker_wait_for_signal(&stop, mcluster, sweep);
    rc = 0;

done:
    if (wrote_file) unlink(opts.brokers_file);
    for (int i = 0; i < nrelays; i++)
        broker_relay_close(relays[i]);
    if (mcluster != NULL) rd_kafka_mock_cluster_destroy(mcluster);
    if (rk != NULL) rd_kafka_destroy(rk);
    if (conf != NULL) rd_kafka_conf_destroy(conf);
    registry_server_stop(registry);
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    return rc;
}
