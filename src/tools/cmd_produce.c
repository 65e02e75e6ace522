/* cmd_produce.c - `bankstream produce`, the command only: its flags, the loop
 * and the summary line. Where messages go is a sink (produce_sink.h); the
 * users come from produce_users.h, the pacing from base/pacer.h.
 *
 * Flow: parse flags -> read the users (and whether transacoes is empty: the
 * historic default) -> open the sink -> loop { pace, txgen_next, encode,
 * send } until --count or SIGINT/SIGTERM -> finish (bounded) -> summary.
 *
 * Messages: key = the payer's id as 36-char text (--key none: no key), value
 * = json_encode_txn, or with --format avro the original's Avro record in the
 * Confluent wire format (avro_encode_txn), its schema registered first under
 * the subject <topic>-value (registry_client.h) for the id the frame carries.
 * What is written depends only on the users and the flags
 * (txgen.h), never on timing or the sink: an archive holds exactly what the
 * same flags send to Kafka (--rate then only sets the clock). */
#include "base/cli.h"
#include "base/log.h"
#include "base/pacer.h"
#include "commands.h"
#include "base/avro_encode.h"
#include "kafka/kafka_conf.h"
#include "registry/registry_client.h"
#include "tools/produce_sink.h"
#include "tools/produce_users.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRODUCE_DEFAULT_TOPIC "bank_transactions"
#define PRODUCE_DEFAULT_RATE  1000.0
#define PRODUCE_MAX_OVERRIDES 64
#define PRODUCE_MAX_REG_OPTS  (REGISTRY_MAX_SETTINGS - 1)
#define PRODUCE_MAX_WAIT      0.1               /* s: longest nap, so a signal is seen */
#define PRODUCE_MIN_WAIT      0.001             /* s: shortest nap (see the loop) */
#define PRODUCE_MAX_START_MS  253402300799999LL /* 9999-12-31 23:59:59.999 UTC */

static volatile sig_atomic_t produce_stop = 0;

static void produce_on_signal(int sig)
{
    produce_stop = 1;
}

typedef struct produce_opts {
    const char *brokers, *topic, *pg;
    const char *output; /* NULL: Kafka */
    const char *hdf5;   /* archive path (needs --count); no Kafka then */
    const char *overrides[PRODUCE_MAX_OVERRIDES];
    size_t n_overrides;
    int64_t count;    /* -1: until a signal */
    double rate;      /* 0: as fast as possible */
    int64_t seed;     /* 0..INT64_MAX */
    int64_t start_ms; /* -1: now */
    int64_t historic; /* -1: decide from the transacoes table */
    int keyless;      /* --key none */
    int avro;         /* --format avro */
    const char *registry;
    const char *reg_keys[PRODUCE_MAX_REG_OPTS + 1], *reg_values[PRODUCE_MAX_REG_OPTS + 1];
    char reg_pairs[PRODUCE_MAX_REG_OPTS][1024];
    int n_reg;
    int quiet;
} produce_opts_t;

/* ---- flags ------------------------------------------------------------------------------ */

static void produce_usage(FILE *out)
{
    fprintf(out,
            "usage: bankstream produce [options]\n"
            "Generate bank transactions (JSON, key = payer id) into a Kafka topic.\n\n"
            "  --brokers B       bootstrap servers (default " KAFKA_CONF_DEFAULT_BROKERS ")\n"
            "  --topic T         topic (default " PRODUCE_DEFAULT_TOPIC ")\n"
            "  --count N         stop after N messages (default: until SIGINT/SIGTERM)\n"
            "  --rate R          messages per second, 0 = as fast as possible (default %g)\n"
            "  --seed S          generator seed (default %d)\n"
            "  --start-time MS   clock start, epoch milliseconds (default: now)\n"
            "  --historic N      first N transactions spread over the year before the start\n"
            "                    (default: 1000 if transacoes is empty, else 0)\n"
            "  --format json|avro  json (default): the JSON object; avro: the original's\n"
            "                    Avro record BankTransaction in the Confluent wire format,\n"
            "                    its schema registered under the subject <topic>-value\n"
            "  --registry URL    schema registry for --format avro (default " REGISTRY_DEFAULT_URL
            ")\n"
            "  --registry-opt K=V  a registry client setting as Confluent's clients name it\n"
            "                    (basic.auth.user.info, ssl.ca.location, ...); repeatable\n"
            "  --key payer|none  payer (default): key = the payer's id, so a payer's\n"
            "                    transactions stay in one partition; none: no key, as the\n"
            "                    original producer, each message in a partition drawn from\n"
            "                    --seed (same flags and partition count, same topic;\n"
            "                    --output writes an empty key field)\n"
            "  --pg CONNINFO     PostgreSQL holding usuarios (default: PG* or embedded)\n"
            "  --users-from-db   read the users from PostgreSQL (the default and only source)\n"
            "  --output FILE     write key<TAB>value lines to FILE ('-' = stdout), not Kafka\n"
            "  --hdf5 FILE       write an HDF5 transaction archive, not Kafka (needs --count;\n"
            "                    unpaced: --rate only sets the clock)\n"
            "  -X key=value      librdkafka setting, applied last (repeatable)\n"
            "  --quiet           no informational lines\n",
            PRODUCE_DEFAULT_RATE, TXGEN_DEFAULT_SEED);
}

/* How a long flag's value is checked and where it goes (dest's type). */
typedef enum produce_flag_kind {
    FLAG_TEXT, /* text, not empty when expects is set (const char *) */
    FLAG_INT,  /* whole number in [0, max] (int64_t) */
    FLAG_RATE, /* number in [0, 1e9] (double) */
    FLAG_KEY,  /* payer or none (int, 1 = none) */
    FLAG_FMT,  /* json or avro (int, 1 = avro) */
    FLAG_REG,  /* K=V registry setting (produce_opts_t) */
    FLAG_SET,  /* no value; sets 1 (int), or nothing when dest is NULL */
} produce_flag_kind_t;

typedef struct produce_flag {
    const char *name;
    produce_flag_kind_t kind;
    void *dest;
    int64_t max;         /* FLAG_INT */
    const char *expects; /* FLAG_TEXT: what an empty value should have been */
} produce_flag_t;

/* Store arg as f says. Returns 0, or -1 after reporting a bad value. */
static int produce_flag_store(const produce_flag_t *f, const char *arg)
{
    char flag[32];
    snprintf(flag, sizeof flag, "--%s", f->name);
    switch (f->kind) {
    case FLAG_TEXT:
        if (f->expects && *arg == '\0') {
            log_error("%s expects %s, got ''", flag, f->expects);
            return -1;
        }
        *(const char **)f->dest = arg;
        return 0;
    case FLAG_INT:
        return cli_parse_int64(flag, arg, 0, f->max, f->dest);
    case FLAG_RATE:
        return cli_parse_double(flag, arg, 0, 1e9, f->dest);
    case FLAG_KEY:
        if (strcmp(arg, "payer") != 0 && strcmp(arg, "none") != 0) {
            log_error("%s expects payer or none, got '%s'", flag, arg);
            return -1;
        }
        *(int *)f->dest = strcmp(arg, "none") == 0;
        return 0;
    case FLAG_FMT:
        if (strcmp(arg, "json") != 0 && strcmp(arg, "avro") != 0) {
            log_error("%s expects json or avro, got '%s'", flag, arg);
            return -1;
        }
        *(int *)f->dest = strcmp(arg, "avro") == 0;
        return 0;
    case FLAG_REG: {
        produce_opts_t *o = f->dest;
        const char *eq = strchr(arg, '=');
        if (eq == NULL || eq == arg) {
            log_error("%s expects key=value (a registry client setting), got '%s'", flag, arg);
            return -1;
        }
        if (o->n_reg == PRODUCE_MAX_REG_OPTS || strlen(arg) >= sizeof o->reg_pairs[0]) {
            log_error("%s: at most %d settings of under 1024 bytes", flag, PRODUCE_MAX_REG_OPTS);
            return -1;
        }
        char *pair = o->reg_pairs[o->n_reg];
        snprintf(pair, sizeof o->reg_pairs[0], "%s", arg);
        pair[eq - arg] = '\0';
        o->reg_keys[o->n_reg] = pair;
        o->reg_values[o->n_reg] = pair + (eq - arg) + 1;
        o->n_reg++;
        return 0;
    }
    case FLAG_SET:
        if (f->dest) *(int *)f->dest = 1;
        return 0;
    }
    return -1;
}

/* Returns 0 to go on, 2 for a usage error (already reported), or -1 when
 * --help was printed (exit 0). */
static int produce_parse(int argc, char **argv, produce_opts_t *o)
{
    *o = (produce_opts_t){.brokers = KAFKA_CONF_DEFAULT_BROKERS,
                          .topic = PRODUCE_DEFAULT_TOPIC,
                          .count = -1,
                          .rate = PRODUCE_DEFAULT_RATE,
                          .seed = TXGEN_DEFAULT_SEED,
                          .start_ms = -1,
                          .historic = -1};
    const produce_flag_t flags[] = {
        {"brokers", FLAG_TEXT, .dest = &o->brokers, .expects = "host:port[,host:port...]"},
        {"topic", FLAG_TEXT, .dest = &o->topic, .expects = "a topic name"},
        {"count", FLAG_INT, .dest = &o->count, .max = INT64_MAX},
        {"rate", FLAG_RATE, .dest = &o->rate},
        {"seed", FLAG_INT, .dest = &o->seed, .max = INT64_MAX},
        {"start-time", FLAG_INT, .dest = &o->start_ms, .max = PRODUCE_MAX_START_MS},
        {"historic", FLAG_INT, .dest = &o->historic, .max = INT64_MAX},
        {"key", FLAG_KEY, .dest = &o->keyless},
        {"format", FLAG_FMT, .dest = &o->avro},
        {"registry", FLAG_TEXT, .dest = &o->registry, .expects = "the registry's URL"},
        {"registry-opt", FLAG_REG, .dest = o},
        {"pg", FLAG_TEXT, .dest = &o->pg},
        {"users-from-db", FLAG_SET, .dest = NULL},
        {"output", FLAG_TEXT, .dest = &o->output, .expects = "a file name or '-'"},
        {"hdf5", FLAG_TEXT, .dest = &o->hdf5, .expects = "a file name"},
        {"quiet", FLAG_SET, .dest = &o->quiet},
    };
    enum { N_FLAGS = sizeof flags / sizeof flags[0] };
    struct option longopts[N_FLAGS + 2] = {[N_FLAGS] = {"help", no_argument, NULL, 'h'}};
    for (int i = 0; i < N_FLAGS; i++)
        longopts[i] = (struct option){
            flags[i].name, flags[i].kind == FLAG_SET ? no_argument : required_argument, NULL, 0};
    int c, at;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hX:", longopts, &at)) != -1) {
        if (c == 0) {
            if (produce_flag_store(&flags[at], optarg) != 0) return 2;
        } else if (c == 'X') {
            if (strchr(optarg, '=') == NULL || *optarg == '=') {
                log_error("-X expects key=value (a librdkafka setting), got '%s'", optarg);
                return 2;
            }
            if (o->n_overrides == PRODUCE_MAX_OVERRIDES) {
                log_error("-X given more than %d times", PRODUCE_MAX_OVERRIDES);
                return 2;
            }
            o->overrides[o->n_overrides++] = optarg;
        } else if (c == 'h') {
            produce_usage(stdout);
            return -1;
        } else {
            return cli_usage_error("produce", argv, optind, optopt);
        }
    }
    if (optind < argc) return cli_extra_argument("produce", argv[optind]);
    if (o->hdf5 && o->count < 0) {
        log_error("--hdf5 needs --count N (an archive holds a fixed number of transactions)");
        return 2;
    }
    if (o->avro && (o->hdf5 || o->output)) {
        log_error("--format avro writes Kafka messages only (the archive holds records, --output "
                  "text lines): drop --%s or --format avro",
                  o->hdf5 ? "hdf5" : "output");
        return 2;
    }
    if (!o->avro && (o->registry || o->n_reg)) {
        log_error("--registry and --registry-opt go with --format avro");
        return 2;
    }
    if (o->hdf5 && o->output) {
        log_error("--hdf5 and --output are exclusive: give one destination");
        return 2;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------ */

/* The sink the flags ask for, with a description of it in target. Returns
 * the sink or NULL with errstr filled. */
static produce_sink_t *produce_open(const produce_opts_t *o, char *target, size_t tsize,
                                    char *errstr, size_t errsize)
{
    if (o->hdf5) {
        snprintf(target, tsize, "HDF5 archive %s", o->hdf5);
        return produce_sink_hdf5_open(o->hdf5, o->topic, (uint64_t)o->seed, o->count, errstr,
                                      errsize);
    }
    if (o->output) {
        snprintf(target, tsize, "%s", o->output);
        return produce_sink_file_open(o->output, errstr, errsize);
    }
    snprintf(target, tsize, "topic %s at %s", o->topic, o->brokers);
    produce_kafka_conf_t kc = {o->brokers, o->topic, o->overrides, o->n_overrides,
                               (uint64_t)o->seed};
    return produce_sink_kafka_open(&kc, errstr, errsize);
}

/* Register the original's schema under <topic>-value; its id in *id.
 * Returns 0, or -1 with errstr. */
static int produce_register(produce_opts_t *o, uint32_t *id, char *errstr, size_t errsize)
{
    char why[768], subject[300];
    int n = o->n_reg, url_opt = 0;
    for (int i = 0; i < n; i++)
        url_opt |= strcmp(o->reg_keys[i], "url") == 0;
    if (o->registry || !url_opt) { /* --registry wins over --registry-opt url=... */
        o->reg_keys[n] = "url";
        o->reg_values[n++] = o->registry ? o->registry : REGISTRY_DEFAULT_URL;
    }
    registry_client_t *rc = registry_client_new(o->reg_keys, o->reg_values, n, why, sizeof why);
    if (rc == NULL) {
        snprintf(errstr, errsize, "%s", why);
        return -1;
    }
    snprintf(subject, sizeof subject, "%s-value", o->topic);
    int r = registry_client_register(rc, subject, AVRO_TXN_WRITER_SCHEMA, id, why, sizeof why);
    if (r != REGISTRY_OK)
        snprintf(errstr, errsize, "cannot register the Avro schema under %.256s: %.600s%s", subject,
                 why,
                 r == REGISTRY_UNAVAILABLE ? "; start one with 'bankstream broker --registry-port "
                                             "P' or pass --registry"
                                           : "");
    else
        log_info("Avro schema BankTransaction registered under %s at %s: id %u", subject,
                 registry_client_url(rc), *id);
    registry_client_free(rc);
    return r == REGISTRY_OK ? 0 : -1;
}

int cmd_produce(int argc, char **argv)
{
    produce_opts_t o;
    int rc = produce_parse(argc, argv, &o);
    if (rc != 0) return rc < 0 ? 0 : rc;
    log_set_quiet(o.quiet);

    char errstr[1024], target[512], howmany[64];
    txgen_user_t *users = NULL;
    size_t n_users = 0;
    long long n_txns = 0;
    produce_sink_t *sink = NULL;
    txgen_t gen;
    uint32_t schema_id = 0; /* first: a bad registry setting fails before the database wait */
    if (o.avro && produce_register(&o, &schema_id, errstr, sizeof errstr) != 0) goto fail;
    if (produce_users_read(o.pg, &users, &n_users, o.historic < 0 ? &n_txns : NULL, errstr,
                           sizeof errstr) != 0)
        goto fail;
    if (o.historic < 0) o.historic = n_txns == 0 ? TXGEN_HISTORIC_DEFAULT : 0;
    if (o.start_ms < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o.start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    txgen_config_t cfg = {
        .seed = (uint64_t)o.seed, .start_ms = o.start_ms, .rate = o.rate, .historic = o.historic};
    if (txgen_init(&gen, users, n_users, &cfg, errstr, sizeof errstr) != 0) goto fail;
    sink = produce_open(&o, target, sizeof target, errstr, sizeof errstr);
    if (sink == NULL) goto fail;

    struct sigaction sa = {.sa_handler = produce_on_signal}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (o.count < 0)
        snprintf(howmany, sizeof howmany, "messages until stopped");
    else
        snprintf(howmany, sizeof howmany, "%lld messages", (long long)o.count);
    log_info("producing %s to %s from %zu users: --seed %llu --start-time %lld --historic %lld "
             "--rate %g",
             howmany, target, n_users, (unsigned long long)o.seed, (long long)o.start_ms,
             (long long)o.historic, o.rate);

    double t0 = pacer_clock();
    double pace = o.hdf5 ? 0 : o.rate; /* an archive is written unpaced */
    pacer_t pacer;
    if (pace > 0) pacer_init(&pacer, pace);
    txn_t t;
    long long sent = 0;
    while ((o.count < 0 || sent < o.count) && !produce_stop) {
        double wait = 0;
        while (pace > 0 && (wait = pacer_take(&pacer)) > 0 && !produce_stop) {
            if (sink->idle(sink, errstr, sizeof errstr) != 0) goto fail;
            /* At high rates the next token is microseconds away; napping
             * that long, once per message, cost 30% of a core at 20,000
             * msgs/s. Nap at least 1 ms and send what accumulated: the
             * rate is the same, the messages go in bursts of 1 ms worth
             * (the producer's linger.ms batches them longer anyway). */
            pacer_sleep(wait < PRODUCE_MIN_WAIT   ? PRODUCE_MIN_WAIT
                        : wait < PRODUCE_MAX_WAIT ? wait
                                                  : PRODUCE_MAX_WAIT);
        }
        if (wait > 0) break; /* stopped while waiting for a token */
        char *line = sink->reserve(sink);
        txgen_next(&gen, &t);
        size_t klen = 0, vlen = 0;
        if (line) { /* key '\t' value '\n' */
            if (!o.keyless) ids_format(t.payer, line);
            klen = o.keyless ? 0 : IDS_TEXT_LEN;
            line[klen] = '\t';
            vlen = o.avro ? (size_t)avro_encode_txn(&t, schema_id, (uint8_t *)line + klen + 1,
                                                    AVRO_ENCODE_TXN_MAX)
                          : (size_t)json_encode_txn(&t, line + klen + 1, JSON_ENCODE_TXN_MAX);
            line[klen + 1 + vlen] = '\n';
        }
        if (sink->send(sink, &t, klen, vlen, errstr, sizeof errstr) != 0) goto fail;
        sent++;
    }
    if (sink->finish(sink, produce_stop, errstr, sizeof errstr) != 0) goto fail;
    double secs = pacer_clock() - t0;
    log_info("produced %lld messages in %.3f s (%.0f msgs/s)", sent, secs,
             secs > 0 ? (double)sent / secs : 0.0);
    rc = 0;
    goto done;
fail:
    log_error("%s", errstr);
    rc = 1;
done:
    if (sink) sink->destroy(sink);
    free(users);
    return rc;
}
