/* produce_sink_kafka.c - `produce`'s Kafka sink (see produce_sink.h): a
 * librdkafka producer that stages lines, hands them over a partition at a
 * time, counts delivery failures and flushes within a bound. Apart from the
 * command because it is the only part of `produce` that knows librdkafka.
 *
 * Lines are written in place into a staging arena, up to KAFKA_SINK_STAGE
 * of them, then handed to librdkafka (which copies them, RD_KAFKA_MSG_F_COPY,
 * so the arena is reused at once) with one rd_kafka_produce_batch call per
 * partition: one lock per partition and batch instead of one per message.
 * The partition is the one librdkafka's default partitioner would choose
 * (consistent_random: CRC32 of the key modulo the partition count), so the
 * topic looks exactly as if each message had been produced alone; a message
 * without a key goes to the next draw of its own rng stream of --seed.
 * Order inside a partition is the send order: before each batch the sink
 * waits until the queue has room for all of it, so QUEUE_FULL cannot drop a
 * message in the middle of a batch.
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
#include "tools/produce_sink.h"
#include "base/rng.h"
#include "kafka/kafka_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KAFKA_SINK_STAGE    1024
#define KAFKA_SINK_PROBE_MS 5000
#define KAFKA_SINK_TIMEOUT  "30000" /* message.timeout.ms */
#define KAFKA_SINK_STOP_MS  10000   /* flush bound after a stop signal */
#define KAFKA_SINK_END_MS   35000   /* otherwise: message.timeout.ms + margin */

typedef struct kafka_sink {
    produce_sink_t base;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int32_t partition_cnt; /* 0: unknown, librdkafka partitions each message */
    rng_t spread;          /* partitions of the messages without a key */
    int queue_max;         /* queue.buffering.max.messages in effect */
    long long failed;      /* delivery failures, counted in the dr callback */
    char first_error[256];
    size_t n_staged, arena_used;
    int *first;                                   /* [partition_cnt + 1] counting-sort offsets */
    int32_t part[KAFKA_SINK_STAGE];               /* partition of each staged line */
    rd_kafka_message_t staged[KAFKA_SINK_STAGE];  /* in send order */
    rd_kafka_message_t by_part[KAFKA_SINK_STAGE]; /* grouped by partition */
    char arena[KAFKA_SINK_STAGE * PRODUCE_LINE_MAX];
} kafka_sink_t;

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
 * delivery reports (also the sink's idle). Returns 0, or -1 with errstr
 * filled when librdkafka refused a message or a delivery already failed. */
static int kafka_sink_hand_over(produce_sink_t *s, char *errstr, size_t errsize)
{
    kafka_sink_t *ks = (kafka_sink_t *)s;
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

static int kafka_sink_send(produce_sink_t *s, const txn_t *t, size_t klen, size_t vlen,
                           char *errstr, size_t errsize)
{
    kafka_sink_t *ks = (kafka_sink_t *)s;
    char *copy = ks->arena + ks->arena_used;
    size_t n = ks->n_staged;
    ks->arena_used += klen + 1 + vlen;
    rd_kafka_message_t *m = &ks->staged[n];
    m->key = klen > 0 ? copy : NULL;
    m->key_len = klen;
    m->payload = copy + klen + 1;
    m->len = vlen;
    m->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ks->partition_cnt == 0)
        ks->part[n] = RD_KAFKA_PARTITION_UA;
    else if (klen == 0)
        ks->part[n] = (int32_t)rng_below(&ks->spread, (uint32_t)ks->partition_cnt);
    else
        ks->part[n] = rd_kafka_msg_partitioner_consistent_random(ks->rkt, copy, klen,
                                                                 ks->partition_cnt, NULL, NULL);
    ks->n_staged = n + 1;
    if (ks->n_staged == KAFKA_SINK_STAGE) return kafka_sink_hand_over(s, errstr, errsize);
    return 0;
}

static int kafka_sink_finish(produce_sink_t *s, int stopping, char *errstr, size_t errsize)
{
    kafka_sink_t *ks = (kafka_sink_t *)s;
    int timeout_ms = stopping ? KAFKA_SINK_STOP_MS : KAFKA_SINK_END_MS;
    if (kafka_sink_hand_over(s, errstr, errsize) != 0) return -1;
    rd_kafka_flush(ks->rk, timeout_ms);
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
    free(ks->first);
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
produce_sink_t *produce_sink_kafka_open(const produce_kafka_conf_t *c, char *errstr, size_t errsize)
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
        {"message.timeout.ms", KAFKA_SINK_TIMEOUT},
        {"delivery.report.only.error", "false"},
    };
    char why[512];
    kafka_sink_t *ks = calloc(1, sizeof *ks);
    rd_kafka_conf_t *conf = NULL;
    if (ks == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    ks->base = (produce_sink_t){kafka_sink_reserve, kafka_sink_send, kafka_sink_hand_over,
                                kafka_sink_finish, kafka_sink_destroy};
    rng_seed(&ks->spread, c->seed, RNG_STREAM_PARTITIONS);

    /* Tuning first, then the bootstrap address and -X overrides on top. */
    conf = kafka_conf_new(c->brokers, NULL, 0, errstr, errsize);
    if (conf == NULL) goto fail;
    for (size_t i = 0; i < sizeof tuning / sizeof tuning[0]; i++)
        if (kafka_conf_set(conf, tuning[i][0], tuning[i][1], errstr, errsize) != 0) goto fail;
    for (size_t i = 0; i < c->n_overrides; i++)
        if (kafka_conf_set_pair(conf, c->overrides[i], errstr, errsize) != 0) goto fail;
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

    if (kafka_conf_check_reachable(ks->rk, c->brokers, KAFKA_SINK_PROBE_MS, why, sizeof why) != 0) {
        snprintf(errstr, errsize,
                 "cannot reach Kafka at %s: %s; start one with 'bankstream broker' or pass "
                 "--brokers",
                 c->brokers, why);
        goto fail;
    }
    ks->rkt = rd_kafka_topic_new(ks->rk, c->topic, NULL);
    if (ks->rkt == NULL) {
        snprintf(errstr, errsize, "cannot use topic '%s': %s", c->topic,
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
