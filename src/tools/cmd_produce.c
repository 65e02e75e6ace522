/* cmd_produce.c - `bankstream produce`: generate transactions into a Kafka
 * topic (or a key<TAB>value file), paced or as fast as possible, or straight
 * into an HDF5 transaction archive (--hdf5, no broker, see h5archive.h).
 *
 * Flow: parse flags -> read users (and the transaction count that decides the
 * historic default) from PostgreSQL -> open the sink (Kafka producer after a
 * reachability probe, or a file) -> loop { pace, txgen_next, encode, send }
 * until --count or SIGINT/SIGTERM -> flush (bounded) -> summary line.
 *
 * Messages: key = the payer's id as 36-char text, value = json_encode_txn.
 * Everything written depends only on the users, --seed, --start-time,
 * --historic and --rate (see txgen.h), never on timing or the sink: an
 * archive holds exactly the transactions the same flags send to Kafka (its
 * rows undecided, status 255); --rate then only sets the clock, the archive
 * is written as fast as possible. */
#include "base/cli.h"
#include "commands.h"
#include "h5/h5archive.h"
#include "base/ids.h"
#include "base/json_encode.h"
#include "kafka/kafka_conf.h"
#include "base/log.h"
#include "base/money.h"
#include "pg/pgconn.h"
#include "base/txgen.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRODUCE_DEFAULT_TOPIC "bank_transactions"
#define PRODUCE_DEFAULT_RATE  1000.0
#define PRODUCE_PROBE_MS      5000
#define PRODUCE_MSG_TIMEOUT   "30000"
#define PRODUCE_STOP_FLUSH_MS 10000 /* flush bound after SIGINT/SIGTERM */
#define PRODUCE_END_FLUSH_MS  35000 /* after --count: message.timeout.ms + margin */
#define PRODUCE_MAX_OVERRIDES 64
#define PRODUCE_LINE_MAX      (IDS_TEXT_LEN + 1 + JSON_ENCODE_TXN_MAX + 1)
#define PRODUCE_ARCHIVE_ROWS  4096 /* rows handed to h5archive_append at a time */

static volatile sig_atomic_t produce_stop = 0;

static void produce_on_signal(int sig)
{
    produce_stop = 1;
}

typedef struct produce_opts {
    const char *brokers;
    const char *topic;
    const char *pg;
    const char *output; /* NULL: Kafka */
    const char *hdf5;   /* archive path (needs --count); no Kafka then */
    const char *overrides[PRODUCE_MAX_OVERRIDES];
    size_t n_overrides;
    int64_t count; /* -1: until a signal */
    double rate;   /* 0: as fast as possible */
    uint64_t seed;
    int64_t start_ms;
    int have_start;
    int64_t historic; /* -1: decide from the transacoes table */
    int quiet;
} produce_opts_t;

/* ---- sinks: where the key<TAB>value lines go ------------------------------------------- */

/* A sink hands out room for one line (reserve: PRODUCE_LINE_MAX bytes,
 * valid until the next send) where the caller writes key '\t' value '\n';
 * send takes that line (klen, vlen exclude the separators) and returns 0 or
 * -1 with errstr. Writing in place saves a copy per message. finish flushes
 * within timeout_ms and returns 0, or -1 with errstr when something was
 * lost; destroy frees everything (also after a failure). */
typedef struct produce_sink {
    char *(*reserve)(struct produce_sink *s);
    int (*send)(struct produce_sink *s, size_t klen, size_t vlen, char *errstr, size_t errsize);
    /* Called before the pacer sleeps: push out what is buffered, serve
     * callbacks. Returns 0 or -1 with errstr. */
    int (*idle)(struct produce_sink *s, char *errstr, size_t errsize);
    int (*finish)(struct produce_sink *s, int timeout_ms, char *errstr, size_t errsize);
    void (*destroy)(struct produce_sink *s);
} produce_sink_t;

typedef struct file_sink {
    produce_sink_t base;
    FILE *fp;
    int owned; /* fclose on destroy (not stdout) */
    const char *path;
    size_t used;
    char buf[1 << 20];
} file_sink_t;

/* The Kafka sink. Lines are written in place into a staging arena, up to
 * KAFKA_SINK_STAGE of them, then handed to librdkafka (which copies them,
 * RD_KAFKA_MSG_F_COPY, so the arena is reused at once) with one
 * rd_kafka_produce_batch call per partition: one lock per partition and
 * batch instead of one per message. The partition is the one librdkafka's
 * default partitioner would choose (consistent_random: CRC32 of the key
 * modulo the partition count), so the topic looks exactly as if each message
 * had been produced alone. Order inside a partition is the send order: before
 * each batch the sink waits until the queue has room for all of it, so
 * QUEUE_FULL cannot drop a message in the middle of a batch.
 *
 * Delivery reports arrive for every message (delivery.report.only.error=false)
 * and are served in this thread by rd_kafka_poll: the messages are then freed
 * by the thread that allocated them, which measured cheaper than letting the
 * broker thread free them (the broker thread is the producer's bottleneck).
 *
 * Measured on 1,000,000 messages into `bankstream broker` (2 cores, perf, CPU
 * seconds of the application thread / librdkafka's broker thread): one
 * rd_kafka_produce per message with a 1,000,000-message queue 1.5 / 2.1;
 * the same with a 100,000-message queue 1.0 / 1.7; batched per partition as
 * here 0.9 / 0.7 (grouping keeps each partition's messages adjacent, so the
 * broker thread's walks over them stay in cache). kcat -P: 1.8 / 2.0. */
#define KAFKA_SINK_STAGE 1024

typedef struct kafka_sink {
    produce_sink_t base;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int32_t partition_cnt; /* 0: unknown, librdkafka partitions each message */
    int queue_max;         /* queue.buffering.max.messages in effect */
    long long failed;      /* delivery failures, counted in the dr callback */
    char first_error[256];
    size_t n_staged, arena_used;
    char *arena;                 /* KAFKA_SINK_STAGE * PRODUCE_LINE_MAX bytes */
    int32_t *part;               /* [KAFKA_SINK_STAGE] partition of each staged line */
    int *first;                  /* [partition_cnt + 1] counting-sort offsets */
    rd_kafka_message_t *staged;  /* [KAFKA_SINK_STAGE] in send order */
    rd_kafka_message_t *by_part; /* [KAFKA_SINK_STAGE] grouped by partition */
} kafka_sink_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kafka_sink_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_sink_t *ks = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (ks->failed++ == 0)
        snprintf(ks->first_error, sizeof ks->first_error, "%s", rd_kafka_err2str(m->err));
}

/* Client-level errors (broker down, ...) are transient for a producer: the
 * messages concerned fail through the delivery report once message.timeout.ms
 * expires, which is what decides the exit status. */
static void kafka_sink_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {}

/* Enqueue msgs[0..n) for partition p (RD_KAFKA_PARTITION_UA: librdkafka's
 * partitioner) in order. Returns 0, or -1 with errstr filled. */
static int kafka_sink_enqueue(kafka_sink_t *ks, int32_t p, rd_kafka_message_t *msgs, int n,
                              char *errstr, size_t errsize)
{
    int slice = ks->queue_max / 2 > 0 ? ks->queue_max / 2 : 1;
    for (int done = 0; done < n;) {
        int c = n - done < slice ? n - done : slice;
        while (rd_kafka_outq_len(ks->rk) + c > ks->queue_max)
            rd_kafka_poll(ks->rk, 10);
        rd_kafka_message_t *m = msgs + done;
        if (rd_kafka_produce_batch(ks->rkt, p, RD_KAFKA_MSG_F_COPY, m, c) < c) {
            /* Not expected after the wait above; retry the failed ones in
             * order (a QUEUE_FULL here could only come from the kbytes cap). */
            for (int i = 0; i < c; i++) {
                rd_kafka_resp_err_t err = m[i].err;
                while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    rd_kafka_poll(ks->rk, 10);
                    err = rd_kafka_produce(ks->rkt, p, RD_KAFKA_MSG_F_COPY, m[i].payload, m[i].len,
                                           m[i].key, m[i].key_len, NULL) == 0
                              ? RD_KAFKA_RESP_ERR_NO_ERROR
                              : rd_kafka_last_error();
                }
                if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    snprintf(errstr, errsize, "cannot produce to topic %s: %s",
                             rd_kafka_topic_name(ks->rkt), rd_kafka_err2str(err));
                    return -1;
                }
            }
        }
        done += c;
    }
    return 0;
}

/* Fill errstr if some message failed delivery; returns -1 then, else 0. */
static int kafka_sink_check_failed(kafka_sink_t *ks, char *errstr, size_t errsize)
{
    if (ks->failed == 0) return 0;
    snprintf(errstr, errsize, "%lld messages failed delivery to topic %s: %s", ks->failed,
             rd_kafka_topic_name(ks->rkt), ks->first_error);
    return -1;
}

/* Hand every staged line to librdkafka, grouped by partition, then serve
 * delivery reports. Returns 0, or -1 with errstr filled when librdkafka
 * refused a message or a delivery already failed (no point going on). */
static int kafka_sink_hand_over(kafka_sink_t *ks, char *errstr, size_t errsize)
{
    int rc = 0;
    int n = (int)ks->n_staged;
    if (n == 0) return 0;
    if (ks->partition_cnt == 0) {
        rc = kafka_sink_enqueue(ks, RD_KAFKA_PARTITION_UA, ks->staged, n, errstr, errsize);
    } else {
        int32_t np = ks->partition_cnt;
        memset(ks->first, 0, sizeof(int) * (size_t)(np + 1));
        for (int i = 0; i < n; i++)
            ks->first[ks->part[i] + 1]++;
        for (int32_t p = 0; p < np; p++)
            ks->first[p + 1] += ks->first[p];
        for (int i = 0; i < n; i++)
            ks->by_part[ks->first[ks->part[i]]++] = ks->staged[i];
        /* first[p] is now the end of partition p's run. */
        for (int32_t p = 0, start = 0; p < np && rc == 0; p++) {
            int end = ks->first[p];
            if (end > start)
                rc = kafka_sink_enqueue(ks, p, ks->by_part + start, end - start, errstr, errsize);
            start = end;
        }
    }
    ks->n_staged = 0;
    ks->arena_used = 0;
    rd_kafka_poll(ks->rk, 0); /* delivery reports: frees delivered messages */
    if (rc == 0) rc = kafka_sink_check_failed(ks, errstr, errsize);
    return rc;
}

static char *kafka_sink_reserve(produce_sink_t *s)
{
    kafka_sink_t *ks = (kafka_sink_t *)s;
    return ks->arena + ks->arena_used; /* n_staged < KAFKA_SINK_STAGE here */
}

static int kafka_sink_send(produce_sink_t *s, size_t klen, size_t vlen, char *errstr,
                           size_t errsize)
{
    kafka_sink_t *ks = (kafka_sink_t *)s;
    char *copy = ks->arena + ks->arena_used;
    size_t n = ks->n_staged;
    ks->arena_used += klen + 1 + vlen;
    rd_kafka_message_t *m = &ks->staged[n];
    m->key = copy;
    m->key_len = klen;
    m->payload = copy + klen + 1;
    m->len = vlen;
    m->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    ks->part[n] = ks->partition_cnt == 0 ? RD_KAFKA_PARTITION_UA
                                         : rd_kafka_msg_partitioner_consistent_random(
                                               ks->rkt, copy, klen, ks->partition_cnt, NULL, NULL);
    ks->n_staged = n + 1;
    if (ks->n_staged == KAFKA_SINK_STAGE) return kafka_sink_hand_over(ks, errstr, errsize);
    return 0;
}

static int kafka_sink_idle(produce_sink_t *s, char *errstr, size_t errsize)
{
    return kafka_sink_hand_over((kafka_sink_t *)s, errstr, errsize);
}

static int kafka_sink_finish(produce_sink_t *s, int timeout_ms, char *errstr, size_t errsize)
{
    kafka_sink_t *ks = (kafka_sink_t *)s;
    if (kafka_sink_hand_over(ks, errstr, errsize) != 0) return -1;
    int64_t deadline = mono_ms() + timeout_ms;
    while (rd_kafka_outq_len(ks->rk) > 0 && mono_ms() < deadline)
        rd_kafka_flush(ks->rk, 100);
    rd_kafka_poll(ks->rk, 0); /* last delivery reports */
    int left = rd_kafka_outq_len(ks->rk);
    if (kafka_sink_check_failed(ks, errstr, errsize) != 0) return -1;
    if (left > 0) {
        snprintf(errstr, errsize, "%d messages still undelivered to topic %s after %d s", left,
                 rd_kafka_topic_name(ks->rkt), timeout_ms / 1000);
        return -1;
    }
    return 0;
}

static void kafka_sink_destroy(produce_sink_t *s)
{
    kafka_sink_t *ks = (kafka_sink_t *)s;
    if (ks->rkt) rd_kafka_topic_destroy(ks->rkt);
    if (ks->rk) {
        /* After a failure, drop what is still queued rather than wait for it. */
        rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(ks->rk, 0);
        rd_kafka_destroy(ks->rk);
    }
    free(ks->arena);
    free(ks->part);
    free(ks->first);
    free(ks->staged);
    free(ks->by_part);
    free(ks);
}

/* The topic's partition count, asking up to ~3 s while a new topic is being
 * created; 0 if it cannot be known (librdkafka then partitions each message). */
static int32_t kafka_sink_partitions(kafka_sink_t *ks)
{
    for (int attempt = 0; attempt < 15; attempt++) {
        const struct rd_kafka_metadata *md = NULL;
        int32_t cnt = 0;
        if (rd_kafka_metadata(ks->rk, 0, ks->rkt, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                cnt = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (cnt > 0) return cnt;
        struct timespec d = {0, 200 * 1000000L};
        nanosleep(&d, NULL);
    }
    return 0;
}

/* Create the producer, check the cluster answers, learn the partitions.
 * Returns the sink or NULL with errstr filled (nothing left allocated). */
static produce_sink_t *kafka_sink_open(const produce_opts_t *o, char *errstr, size_t errsize)
{
    static const char *const tuning[][2] = {
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        /* 100k rather than 1M: the same speed with a tenth of the memory and
         * fewer page faults (about 40 MB of queued messages instead of 400). */
        {"queue.buffering.max.messages", "100000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"compression.codec", "none"},
        {"enable.idempotence", "false"},
        {"message.timeout.ms", PRODUCE_MSG_TIMEOUT},
        {"delivery.report.only.error", "false"},
    };
    char why[512];
    kafka_sink_t *ks = calloc(1, sizeof *ks);
    rd_kafka_conf_t *conf = NULL;
    if (ks == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    ks->base.reserve = kafka_sink_reserve;
    ks->base.send = kafka_sink_send;
    ks->base.idle = kafka_sink_idle;
    ks->base.finish = kafka_sink_finish;
    ks->base.destroy = kafka_sink_destroy;
    ks->arena = malloc((size_t)KAFKA_SINK_STAGE * PRODUCE_LINE_MAX);
    ks->part = calloc(KAFKA_SINK_STAGE, sizeof *ks->part);
    ks->staged = calloc(KAFKA_SINK_STAGE, sizeof *ks->staged);
    ks->by_part = calloc(KAFKA_SINK_STAGE, sizeof *ks->by_part);
    if (!ks->arena || !ks->part || !ks->staged || !ks->by_part) {
        snprintf(errstr, errsize, "out of memory");
        goto fail;
    }

    /* Tuning first, then the bootstrap address and -X overrides on top. */
    conf = kafka_conf_new(o->brokers, NULL, 0, errstr, errsize);
    if (conf == NULL) goto fail;
    for (size_t i = 0; i < sizeof tuning / sizeof tuning[0]; i++)
        if (kafka_conf_set(conf, tuning[i][0], tuning[i][1], errstr, errsize) != 0) goto fail;
    for (size_t i = 0; i < o->n_overrides; i++)
        if (kafka_conf_set_pair(conf, o->overrides[i], errstr, errsize) != 0) goto fail;
    char qmax[32];
    size_t qlen = sizeof qmax;
    if (rd_kafka_conf_get(conf, "queue.buffering.max.messages", qmax, &qlen) != RD_KAFKA_CONF_OK)
        snprintf(qmax, sizeof qmax, "100000");
    ks->queue_max = atoi(qmax) > 0 ? atoi(qmax) : 1;
    /* Choosing partitions here is only right for the default partitioner; with
     * another one (-X partitioner=...) librdkafka partitions each message. */
    char partitioner[64] = "consistent_random";
    size_t plen = sizeof partitioner;
    int own_partitioning =
        rd_kafka_conf_get(conf, "partitioner", partitioner, &plen) != RD_KAFKA_CONF_OK ||
        strcmp(partitioner, "consistent_random") == 0;
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_sink_dr_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_sink_error_cb);
    rd_kafka_conf_set_opaque(conf, ks);

    ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (ks->rk == NULL) {
        snprintf(errstr, errsize, "cannot create a Kafka producer: %s", why);
        goto fail;
    }
    conf = NULL; /* owned by rk now */

    if (kafka_conf_check_reachable(ks->rk, o->brokers, PRODUCE_PROBE_MS, why, sizeof why) != 0) {
        snprintf(errstr, errsize,
                 "cannot reach Kafka at %s: %s; start one with 'bankstream broker' or pass "
                 "--brokers",
                 o->brokers, why);
        goto fail;
    }
    ks->rkt = rd_kafka_topic_new(ks->rk, o->topic, NULL);
    if (ks->rkt == NULL) {
        snprintf(errstr, errsize, "cannot use topic '%s': %s", o->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    ks->partition_cnt = own_partitioning ? kafka_sink_partitions(ks) : 0;
    if (ks->partition_cnt > 0) {
        ks->first = calloc((size_t)ks->partition_cnt + 1, sizeof *ks->first);
        if (ks->first == NULL) {
            snprintf(errstr, errsize, "out of memory");
            goto fail;
        }
    }
    return &ks->base;
fail:
    if (conf) rd_kafka_conf_destroy(conf);
    kafka_sink_destroy(&ks->base);
    return NULL;
}

static int file_sink_drain(file_sink_t *fs, char *errstr, size_t errsize)
{
    if (fs->used > 0 && fwrite(fs->buf, 1, fs->used, fs->fp) != fs->used) {
        snprintf(errstr, errsize, "cannot write %s: %s", fs->path, strerror(errno));
        return -1;
    }
    fs->used = 0;
    return 0;
}

static char *file_sink_reserve(produce_sink_t *s)
{
    file_sink_t *fs = (file_sink_t *)s;
    return fs->buf + fs->used; /* send keeps PRODUCE_LINE_MAX bytes free */
}

static int file_sink_send(produce_sink_t *s, size_t klen, size_t vlen, char *errstr, size_t errsize)
{
    file_sink_t *fs = (file_sink_t *)s;
    fs->used += klen + vlen + 2;
    if (fs->used + PRODUCE_LINE_MAX > sizeof fs->buf) return file_sink_drain(fs, errstr, errsize);
    return 0;
}

static int file_sink_idle(produce_sink_t *s, char *errstr, size_t errsize)
{
    file_sink_t *fs = (file_sink_t *)s;
    if (file_sink_drain(fs, errstr, errsize) != 0) return -1;
    if (fflush(fs->fp) != 0) {
        snprintf(errstr, errsize, "cannot write %s: %s", fs->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int file_sink_finish(produce_sink_t *s, int timeout_ms, char *errstr, size_t errsize)
{
    file_sink_t *fs = (file_sink_t *)s;
    if (file_sink_drain(fs, errstr, errsize) != 0) return -1;
    if (fflush(fs->fp) != 0) {
        snprintf(errstr, errsize, "cannot write %s: %s", fs->path, strerror(errno));
        return -1;
    }
    return 0;
}

static void file_sink_destroy(produce_sink_t *s)
{
    file_sink_t *fs = (file_sink_t *)s;
    if (fs->owned && fs->fp) fclose(fs->fp);
    free(fs);
}

static produce_sink_t *file_sink_open(const char *path, char *errstr, size_t errsize)
{
    file_sink_t *fs = calloc(1, sizeof *fs);
    if (fs == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    fs->base.reserve = file_sink_reserve;
    fs->base.send = file_sink_send;
    fs->base.idle = file_sink_idle;
    fs->base.finish = file_sink_finish;
    fs->base.destroy = file_sink_destroy;
    fs->path = path;
    if (strcmp(path, "-") == 0) {
        fs->fp = stdout;
        fs->path = "standard output";
    } else {
        fs->fp = fopen(path, "w");
        fs->owned = 1;
        if (fs->fp == NULL) {
            snprintf(errstr, errsize, "cannot create %s: %s", path, strerror(errno));
            free(fs);
            return NULL;
        }
    }
    return &fs->base;
}

/* ---- PostgreSQL: users and the historic default ------------------------------------------ */

/* Read the users ordered by id. Returns 0 with *users (caller frees) and *n,
 * or -1 with errstr filled and nothing allocated. */
static int produce_load_users(PGconn *pg, txgen_user_t **users, size_t *n, char *errstr,
                              size_t errsize)
{
    int rc = -1;
    txgen_user_t *u = NULL;
    PGresult *res = PQexec(pg, "SELECT id_usuario, saldo FROM usuarios ORDER BY id_usuario");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42P01") == 0)
            snprintf(errstr, errsize,
                     "the database has no usuarios table; run 'bankstream init' "
                     "first");
        else
            snprintf(errstr, errsize, "cannot read usuarios: %s", PQerrorMessage(pg));
        goto done;
    }
    size_t rows = (size_t)PQntuples(res);
    u = calloc(rows ? rows : 1, sizeof *u);
    if (u == NULL) {
        snprintf(errstr, errsize, "out of memory for %zu users", rows);
        goto done;
    }
    for (size_t i = 0; i < rows; i++) {
        const char *id = PQgetvalue(res, (int)i, 0);
        if (ids_parse(id, strlen(id), u[i].id) != 0) {
            snprintf(errstr, errsize, "usuarios row %zu: bad id_usuario '%s'", i + 1, id);
            goto done;
        }
        if (PQgetisnull(res, (int)i, 1)) {
            u[i].saldo_cents = 0;
        } else if (money_parse(PQgetvalue(res, (int)i, 1), &u[i].saldo_cents) != 0) {
            snprintf(errstr, errsize, "usuarios row %zu: bad saldo '%s'", i + 1,
                     PQgetvalue(res, (int)i, 1));
            goto done;
        }
    }
    *users = u;
    *n = rows;
    u = NULL;
    rc = 0;
done:
    free(u);
    PQclear(res);
    return rc;
}

/* Count the rows of transacoes (0 when the table does not exist). Returns 0
 * or -1 with errstr filled. */
static int produce_count_transactions(PGconn *pg, long long *count, char *errstr, size_t errsize)
{
    int rc = -1;
    PGresult *res = PQexec(pg, "SELECT count(*) FROM transacoes");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        *count = atoll(PQgetvalue(res, 0, 0));
        rc = 0;
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42P01") == 0) {
            *count = 0;
            rc = 0;
        } else {
            snprintf(errstr, errsize, "cannot count transacoes: %s", PQerrorMessage(pg));
        }
    }
    PQclear(res);
    return rc;
}

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
            "  --pg CONNINFO     PostgreSQL holding usuarios (default: PG* or embedded)\n"
            "  --users-from-db   read the users from PostgreSQL (the default and only source)\n"
            "  --output FILE     write key<TAB>value lines to FILE ('-' = stdout), not Kafka\n"
            "  --hdf5 FILE       write an HDF5 transaction archive, not Kafka (needs --count;\n"
            "                    unpaced: --rate only sets the clock)\n"
            "  -X key=value      librdkafka setting, applied last (repeatable)\n"
            "  --quiet           no informational lines\n",
            PRODUCE_DEFAULT_RATE, TXGEN_DEFAULT_SEED);
}

/* Returns 0 to go on, 2 for a usage error (already reported), or -1 when
 * --help was printed (exit 0). */
static int produce_parse(int argc, char **argv, produce_opts_t *o)
{
    enum {
        OPT_BROKERS = 256,
        OPT_TOPIC,
        OPT_COUNT,
        OPT_RATE,
        OPT_SEED,
        OPT_START,
        OPT_HISTORIC,
        OPT_PG,
        OPT_USERS_DB,
        OPT_OUTPUT,
        OPT_HDF5,
        OPT_QUIET,
    };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"count", required_argument, NULL, OPT_COUNT},
        {"rate", required_argument, NULL, OPT_RATE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"start-time", required_argument, NULL, OPT_START},
        {"historic", required_argument, NULL, OPT_HISTORIC},
        {"pg", required_argument, NULL, OPT_PG},
        {"users-from-db", no_argument, NULL, OPT_USERS_DB},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"hdf5", required_argument, NULL, OPT_HDF5},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->brokers = KAFKA_CONF_DEFAULT_BROKERS;
    o->topic = PRODUCE_DEFAULT_TOPIC;
    o->count = -1;
    o->rate = PRODUCE_DEFAULT_RATE;
    o->seed = TXGEN_DEFAULT_SEED;
    o->historic = -1;

    int64_t v;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hX:", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BROKERS:
            if (*optarg == '\0') {
                log_error("--brokers expects host:port[,host:port...], got ''");
                return 2;
            }
            o->brokers = optarg;
            break;
        case OPT_TOPIC:
            if (*optarg == '\0') {
                log_error("--topic expects a topic name, got ''");
                return 2;
            }
            o->topic = optarg;
            break;
        case OPT_COUNT:
            if (cli_parse_int64("--count", optarg, 0, INT64_MAX, &o->count) != 0) return 2;
            break;
        case OPT_RATE:
            if (cli_parse_double("--rate", optarg, 0, 1e9, &o->rate) != 0) return 2;
            break;
        case OPT_SEED:
            if (cli_parse_int64("--seed", optarg, 0, INT64_MAX, &v) != 0) return 2;
            o->seed = (uint64_t)v;
            break;
        case OPT_START:
            /* Years 1970..9999 in epoch milliseconds. */
            if (cli_parse_int64("--start-time", optarg, 0, 253402300799999LL, &o->start_ms) != 0)
                return 2;
            o->have_start = 1;
            break;
        case OPT_HISTORIC:
            if (cli_parse_int64("--historic", optarg, 0, INT64_MAX, &o->historic) != 0) return 2;
            break;
        case OPT_PG:
            o->pg = optarg;
            break;
        case OPT_USERS_DB:
            break;
        case OPT_OUTPUT:
            if (*optarg == '\0') {
                log_error("--output expects a file name or '-', got ''");
                return 2;
            }
            o->output = optarg;
            break;
        case OPT_HDF5:
            if (*optarg == '\0') {
                log_error("--hdf5 expects a file name, got ''");
                return 2;
            }
            o->hdf5 = optarg;
            break;
        case OPT_QUIET:
            o->quiet = 1;
            break;
        case 'X':
            if (strchr(optarg, '=') == NULL || *optarg == '=') {
                log_error("-X expects key=value (a librdkafka setting), got '%s'", optarg);
                return 2;
            }
            if (o->n_overrides == PRODUCE_MAX_OVERRIDES) {
                log_error("-X given more than %d times", PRODUCE_MAX_OVERRIDES);
                return 2;
            }
            o->overrides[o->n_overrides++] = optarg;
            break;
        case 'h':
            produce_usage(stdout);
            return -1;
        default:
            return cli_usage_error("produce", argv, optind, optopt);
        }
    }
    if (optind < argc) return cli_extra_argument("produce", argv[optind]);
    if (o->hdf5 && o->count < 0) {
        log_error("--hdf5 needs --count N (an archive holds a fixed number of transactions)");
        return 2;
    }
    if (o->hdf5 && o->output) {
        log_error("--hdf5 and --output are exclusive: give one destination");
        return 2;
    }
    return 0;
}

/* ---- the loop --------------------------------------------------------------------------- */

/* Token bucket on CLOCK_MONOTONIC: rate tokens per second, at most cap. */
typedef struct produce_pacer {
    double rate, cap, tokens;
    struct timespec last;
} produce_pacer_t;

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
    return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) * 1e-9;
}

static void pacer_init(produce_pacer_t *p, double rate)
{
    p->rate = rate;
    p->cap = rate / 100 > 1 ? rate / 100 : 1; /* at most 10 ms worth of burst */
    p->tokens = 1;
    clock_gettime(CLOCK_MONOTONIC, &p->last);
}

/* Wait (sleeping, serving the sink's callbacks) until one token is there and
 * take it. Returns 0 with a token, 1 without one when a stop signal arrived,
 * or -1 with errstr filled when the sink failed. */
static int pacer_take(produce_pacer_t *p, produce_sink_t *sink, char *errstr, size_t errsize)
{
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        p->tokens += ts_diff(&now, &p->last) * p->rate;
        p->last = now;
        if (p->tokens > p->cap) p->tokens = p->cap;
        if (p->tokens >= 1) {
            p->tokens -= 1;
            return 0;
        }
        if (produce_stop) return 1;
        if (sink->idle(sink, errstr, errsize) != 0) return -1;
        double wait = (1 - p->tokens) / p->rate;
        if (wait > 0.1) wait = 0.1; /* notice signals within 100 ms */
        struct timespec d = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&d, NULL);
    }
}

/* Draw o->count transactions into the archive o->hdf5 (published on
 * success). Returns 0 with *sent set, or -1 with errstr filled (interrupted
 * by a signal included); the archive is then not written. */
static int produce_archive(const produce_opts_t *o, txgen_t *gen, long long *sent, char *errstr,
                           size_t errsize)
{
    txn_record_t *rows = calloc(PRODUCE_ARCHIVE_ROWS, sizeof *rows);
    h5archive_writer_t *w = NULL;
    int rc = -1;
    if (rows == NULL) {
        snprintf(errstr, errsize, "out of memory");
        goto done;
    }
    w = h5archive_create(o->hdf5, "produce", o->topic, o->seed, errstr, errsize);
    if (w == NULL) goto done;
    while (*sent < o->count) {
        if (produce_stop) {
            snprintf(errstr, errsize, "interrupted after %lld of %lld messages; %s was not written",
                     *sent, (long long)o->count, o->hdf5);
            goto done;
        }
        size_t n = 0;
        while (n < PRODUCE_ARCHIVE_ROWS && *sent + (long long)n < o->count) {
            txn_record_t *r = &rows[n++];
            txgen_next(gen, &r->txn);
            r->partition = -1;
            r->offset = -1;
            r->kafka_ts_ms = r->txn.time_us / 1000;
            r->batch_id = 0;
            r->status = STATUS_NONE;
            r->reason = 0;
            r->t5 = r->t6 = r->t7 = NAN;
        }
        if (h5archive_append(w, rows, n, errstr, errsize) != 0) goto done;
        *sent += (long long)n;
    }
    rc = h5archive_close(w, NULL, errstr, errsize);
    w = NULL;
done:
    h5archive_abort(w);
    free(rows);
    return rc;
}

int cmd_produce(int argc, char **argv)
{
    produce_opts_t o;
    int rc = produce_parse(argc, argv, &o);
    if (rc == -1) return 0;
    if (rc != 0) return rc;
    log_set_quiet(o.quiet);

    char errstr[1024], conninfo[4096];
    PGconn *pg = NULL;
    txgen_user_t *users = NULL;
    size_t n_users = 0;
    produce_sink_t *sink = NULL;
    rc = 1;

    if (pgconn_resolve(o.pg, conninfo, sizeof conninfo, errstr, sizeof errstr) != 0) goto fail;
    pg = pgconn_open(conninfo, errstr, sizeof errstr);
    if (pg == NULL) goto fail;
    if (produce_load_users(pg, &users, &n_users, errstr, sizeof errstr) != 0) goto fail;
    if (n_users < 2) {
        snprintf(errstr, sizeof errstr,
                 "the usuarios table holds %zu users, need at least 2; run 'bankstream init' first",
                 n_users);
        goto fail;
    }
    if (o.historic < 0) {
        long long existing;
        if (produce_count_transactions(pg, &existing, errstr, sizeof errstr) != 0) goto fail;
        o.historic = existing == 0 ? TXGEN_HISTORIC_DEFAULT : 0;
    }
    PQfinish(pg);
    pg = NULL;

    if (!o.have_start) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o.start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    txgen_t gen;
    txgen_config_t cfg = {
        .seed = o.seed, .start_ms = o.start_ms, .rate = o.rate, .historic = o.historic};
    if (txgen_init(&gen, users, n_users, &cfg, errstr, sizeof errstr) != 0) goto fail;

    if (o.hdf5 == NULL) {
        sink = o.output ? file_sink_open(o.output, errstr, sizeof errstr)
                        : kafka_sink_open(&o, errstr, sizeof errstr);
        if (sink == NULL) goto fail;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = produce_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char target[512], howmany[64];
    if (o.hdf5)
        snprintf(target, sizeof target, "HDF5 archive %s", o.hdf5);
    else if (o.output)
        snprintf(target, sizeof target, "%s", o.output);
    else
        snprintf(target, sizeof target, "topic %s at %s", o.topic, o.brokers);
    if (o.count < 0)
        snprintf(howmany, sizeof howmany, "messages until stopped");
    else
        snprintf(howmany, sizeof howmany, "%lld messages", (long long)o.count);
    log_info("producing %s to %s from %zu users: --seed %llu --start-time %lld --historic %lld "
             "--rate %g",
             howmany, target, n_users, (unsigned long long)o.seed, (long long)o.start_ms,
             (long long)o.historic, o.rate);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    produce_pacer_t pacer;
    if (o.rate > 0) pacer_init(&pacer, o.rate);
    txn_t t;
    long long sent = 0;
    if (o.hdf5 && produce_archive(&o, &gen, &sent, errstr, sizeof errstr) != 0) goto fail;
    while (!o.hdf5 && (o.count < 0 || sent < o.count) && !produce_stop) {
        if (o.rate > 0) {
            int got = pacer_take(&pacer, sink, errstr, sizeof errstr);
            if (got < 0) goto fail;
            if (got > 0) break;
        }
        char *line = sink->reserve(sink);
        txgen_next(&gen, &t);
        ids_format(t.payer, line);
        line[IDS_TEXT_LEN] = '\t';
        int vlen = json_encode_txn(&t, line + IDS_TEXT_LEN + 1, JSON_ENCODE_TXN_MAX);
        line[IDS_TEXT_LEN + 1 + vlen] = '\n';
        if (sink->send(sink, IDS_TEXT_LEN, (size_t)vlen, errstr, sizeof errstr) != 0) goto fail;
        sent++;
    }
    if (sink && sink->finish(sink, produce_stop ? PRODUCE_STOP_FLUSH_MS : PRODUCE_END_FLUSH_MS,
                             errstr, sizeof errstr) != 0)
        goto fail;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = ts_diff(&t1, &t0);
    log_info("produced %lld messages in %.3f s (%.0f msgs/s)", sent, secs,
             secs > 0 ? (double)sent / secs : 0.0);
    rc = 0;
    goto done;
fail:
    log_error("%s", errstr);
    rc = 1;
done:
    if (sink) sink->destroy(sink);
    if (pg) PQfinish(pg);
    free(users);
    return rc;
}
