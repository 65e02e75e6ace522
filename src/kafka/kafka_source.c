/* kafka_source.c - assign-mode consumer with per-partition FIFOs.
 *
 * Per partition: a ring of rd_kafka_message_t pointers, the position where
 * the next batch starts, and an end-of-partition flag set by librdkafka's
 * PARTITION_EOF event (enable.partition.eof) and cleared by any message. */
#include "kafka/kafka_source.h"
#include "kafka/kafka_conf.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct partition_fifo {
    rd_kafka_message_t **msgs;
    size_t head, count, cap;
    int64_t position; /* next offset a batch takes */
    int at_eof;
    int paused;
} partition_fifo_t;

struct kafka_source {
    rd_kafka_t *rk;
    char topic[256];
    int nparts;
    partition_fifo_t *parts;
    size_t max_buffered;
    int warned_transport;
};

static int fifo_push(partition_fifo_t *f, rd_kafka_message_t *m)
{
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        rd_kafka_message_t **p = malloc(cap * sizeof *p);
        if (p == NULL) return -1;
        for (size_t i = 0; i < f->count; i++)
            p[i] = f->msgs[(f->head + i) % f->cap];
        free(f->msgs);
        f->msgs = p;
        f->head = 0;
        f->cap = cap;
    }
    f->msgs[(f->head + f->count++) % f->cap] = m;
    return 0;
}

kafka_source_t *kafka_source_open(const job_config_t *job, const int64_t *start_offsets,
                                  int n_start, size_t max_buffered, char *errstr, size_t errsize)
{
    kafka_source_t *src = calloc(1, sizeof *src);
    rd_kafka_conf_t *conf = NULL;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_partition_list_t *assign = NULL;
    if (src == NULL) goto oom;
    snprintf(src->topic, sizeof src->topic, "%s", job->topic);
    src->max_buffered = max_buffered;

    conf = kafka_conf_new(job_config_kafka(job, "bootstrap.servers"), NULL, 0, errstr, errsize);
    if (conf == NULL) goto fail;
    if (kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errsize) ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errsize) ||
        kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errsize) ||
        /* Positions come from batch_log; if one vanishes under us (retention,
         * a recreated topic) stop rather than jump elsewhere. */
        kafka_conf_set(conf, "auto.offset.reset", "error", errstr, errsize) ||
        /* An empty fetch waits this long even when data arrives meanwhile. */
        kafka_conf_set(conf, "fetch.wait.max.ms", "20", errstr, errsize) ||
        kafka_conf_set(conf, "queued.max.messages.kbytes", "65536", errstr, errsize))
        goto fail;
    for (int i = 0; i < job->n_kafka_props; i++)
        if (kafka_conf_set(conf, job->kafka_keys[i], job->kafka_values[i], errstr, errsize))
            goto fail;

    char rkerr[512];
    src->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof rkerr);
    if (src->rk == NULL) {
        snprintf(errstr, errsize, "cannot create Kafka consumer: %s", rkerr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(src->rk);

    rd_kafka_topic_t *rkt = rd_kafka_topic_new(src->rk, src->topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(src->rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err) {
        snprintf(errstr, errsize,
                 "cannot reach Kafka at %s: %s; start one with 'bankstream broker' or pass "
                 "--brokers",
                 job_config_kafka(job, "bootstrap.servers"), rd_kafka_err2str(err));
        goto fail;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        snprintf(errstr, errsize, "topic '%s' not found at %s: %s", src->topic,
                 job_config_kafka(job, "bootstrap.servers"),
                 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
        goto fail;
    }
    src->nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    md = NULL;

    src->parts = calloc((size_t)src->nparts, sizeof *src->parts);
    assign = rd_kafka_topic_partition_list_new(src->nparts);
    if (src->parts == NULL || assign == NULL) goto oom;
    for (int p = 0; p < src->nparts; p++) {
        int64_t start = p < n_start ? start_offsets[p] : -1, low, high;
        err = rd_kafka_query_watermark_offsets(src->rk, src->topic, p, &low, &high, 10000);
        if (err) {
            snprintf(errstr, errsize, "cannot read offsets of %s [%d]: %s", src->topic, p,
                     rd_kafka_err2str(err));
            goto fail;
        }
        if (start > high) {
            /* Resuming there would silently skip whatever the topic holds now. */
            snprintf(errstr, errsize,
                     "batch_log says %s [%d] was read up to offset %" PRId64
                     " but the partition ends at %" PRId64
                     "; the topic was recreated or the broker lost data. Point --topic at the "
                     "original topic, or start over with 'bankstream init --force'",
                     src->topic, p, start, high);
            goto fail;
        }
        if (start < low) {
            if (start >= 0)
                log_warn("%s [%d]: offsets %" PRId64 "..%" PRId64
                         " were deleted by retention before being processed",
                         src->topic, p, start, low - 1);
            start = low;
        }
        src->parts[p].position = start;
        rd_kafka_topic_partition_list_add(assign, src->topic, p)->offset = start;
    }
    err = rd_kafka_assign(src->rk, assign);
    if (err) {
        snprintf(errstr, errsize, "cannot assign partitions of %s: %s", src->topic,
                 rd_kafka_err2str(err));
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(assign);
    return src;
oom:
    snprintf(errstr, errsize, "out of memory");
fail:
    if (md) rd_kafka_metadata_destroy(md);
    if (assign) rd_kafka_topic_partition_list_destroy(assign);
    if (conf) rd_kafka_conf_destroy(conf);
    kafka_source_close(src);
    return NULL;
}

void kafka_source_close(kafka_source_t *src)
{
    if (src == NULL) return;
    for (int p = 0; src->parts && p < src->nparts; p++) {
        kafka_source_drop(src, p, src->parts[p].count);
        free(src->parts[p].msgs);
    }
    free(src->parts);
    if (src->rk) {
        rd_kafka_consumer_close(src->rk);
        rd_kafka_destroy(src->rk);
    }
    free(src);
}

int kafka_source_partitions(const kafka_source_t *src)
{
    return src->nparts;
}

static void set_paused(kafka_source_t *src, int p, int pause)
{
    partition_fifo_t *f = &src->parts[p];
    if (f->paused == pause) return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, src->topic, p);
    if (pause)
        rd_kafka_pause_partitions(src->rk, l);
    else
        rd_kafka_resume_partitions(src->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    f->paused = pause;
}

int kafka_source_poll(kafka_source_t *src, int timeout_ms, char *errstr, size_t errsize)
{
    int added = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(src->rk, added ? 0 : timeout_ms);
        if (m == NULL) break;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < src->nparts)
                src->parts[m->partition].at_eof = 1;
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            char fatal[512];
            if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
                snprintf(errstr, errsize,
                         "%s [%d]: the next offset to process is no longer in the topic (%s); "
                         "messages were deleted before bankstream read them",
                         src->topic, (int)m->partition, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return -1;
            }
            if (rd_kafka_fatal_error(src->rk, fatal, sizeof fatal)) {
                snprintf(errstr, errsize, "Kafka consumer failed: %s", fatal);
                rd_kafka_message_destroy(m);
                return -1;
            }
            if (!src->warned_transport) log_warn("Kafka: %s; retrying", rd_kafka_message_errstr(m));
            src->warned_transport = 1;
            rd_kafka_message_destroy(m);
            continue;
        }
        src->warned_transport = 0;
        if (m->partition < 0 || m->partition >= src->nparts) { /* partitions added later */
            rd_kafka_message_destroy(m);
            continue;
        }
        partition_fifo_t *f = &src->parts[m->partition];
        f->at_eof = 0;
        if (fifo_push(f, m) != 0) {
            rd_kafka_message_destroy(m);
            snprintf(errstr, errsize, "out of memory buffering Kafka messages");
            return -1;
        }
        if (f->count >= src->max_buffered) set_paused(src, m->partition, 1);
        if (++added >= 100000) break;
    }
    return added;
}

size_t kafka_source_buffered(const kafka_source_t *src, int partition)
{
    return src->parts[partition].count;
}

int kafka_source_drained(const kafka_source_t *src, int partition)
{
    const partition_fifo_t *f = &src->parts[partition];
    return f->at_eof && f->count == 0;
}

int kafka_source_at_end(const kafka_source_t *src, int partition)
{
    return src->parts[partition].at_eof;
}

const rd_kafka_message_t *kafka_source_peek(const kafka_source_t *src, int partition, size_t i)
{
    const partition_fifo_t *f = &src->parts[partition];
    return f->msgs[(f->head + i) % f->cap];
}

void kafka_source_drop(kafka_source_t *src, int partition, size_t n)
{
    partition_fifo_t *f = &src->parts[partition];
    for (size_t i = 0; i < n && f->count > 0; i++) {
        rd_kafka_message_destroy(f->msgs[f->head]);
        f->head = (f->head + 1) % f->cap;
        f->count--;
    }
    if (f->paused && f->count < src->max_buffered / 2) set_paused(src, partition, 0);
}

int64_t kafka_source_position(const kafka_source_t *src, int partition)
{
    return src->parts[partition].position;
}

void kafka_source_advance(kafka_source_t *src, int partition, int64_t end_offset)
{
    src->parts[partition].position = end_offset;
}

int64_t kafka_source_lag(kafka_source_t *src, int partition)
{
    int64_t low, high;
    if (rd_kafka_get_watermark_offsets(src->rk, src->topic, partition, &low, &high) || high < 0)
        return -1;
    int64_t lag = high - src->parts[partition].position;
    return lag > 0 ? lag : 0;
}

void kafka_source_commit(kafka_source_t *src, const int64_t *end_offsets, int nparts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, src->topic, p)->offset = end_offsets[p];
    rd_kafka_commit(src->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}
