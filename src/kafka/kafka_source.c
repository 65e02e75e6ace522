/* kafka_source.c - assign-mode consumer with per-partition FIFOs (see
 * kafka_source.h).
 *
 * Per partition: a ring of rd_kafka_message_t pointers, the position where
 * the next batch starts, an end-of-partition flag set by librdkafka's
 * PARTITION_EOF event (enable.partition.eof) and cleared by any message, and
 * the end offset that event carried (past transaction markers).
 *
 * Commits to the group (monitoring only) are asynchronous, from the sink
 * thread; their results come back through offset_commit_cb on the polling
 * thread. librdkafka may complete a retried older commit after a newer one,
 * so the callback compares what landed with the newest offsets asked for
 * (`target`, under `mu`) and the next poll commits those again if needed.
 * The broker refuses the commits while another consumer is a member of the
 * group (this consumer assigns its partitions itself and is no member): the
 * callback then says so, once a minute, since nothing else would tell the
 * operator why the group's lag stopped moving. */
#include "kafka/kafka_source.h"
#include "base/log.h"
#include "base/stop.h"
#include "kafka/kafka_conf.h"
#include "kafka/kafka_health.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PARTITIONS   1024
#define REFRESH_EVERY_US 10000000LL /* look for new partitions every 10 s */
#define WAIT_REPORT_US   10000000LL /* say again what we wait for every 10 s */
#define CLOSE_COMMIT_MS  5000

typedef struct partition_fifo {
    rd_kafka_message_t **msgs;
    size_t head, count, cap;
    size_t bytes;     /* payload bytes buffered */
    int64_t position; /* next offset a batch takes */
    int64_t eof_end;  /* the end offset the last EOF event reported, -1 = none */
    int at_eof;
    int paused;
} partition_fifo_t;

struct kafka_source {
    /* First member: librdkafka's callbacks get one opaque pointer, which is
     * both the health tracker's (kafka_health.c) and, converted, this
     * source's (on_commit). */
    kafka_health_t health;
    rd_kafka_t *rk;
    char topic[256], brokers[256];
    int nparts;
    partition_fifo_t *parts;
    size_t max_buffered;
    int64_t max_bytes; /* per partition */
    int64_t wait_seconds;
    int64_t last_refresh_us;
    /* group commits (any thread) */
    pthread_mutex_t mu;
    int64_t target[MAX_PARTITIONS]; /* newest offsets asked to commit */
    int ntarget;
    int recommit;    /* a commit landed behind target */
    char group[256]; /* group.id */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

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
    f->bytes += m->len;
    return 0;
}

/* Errors with which the group coordinator turns away a consumer that is
 * not a member of the group while the group has members. */
static int refused_by_group(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
           err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

/* A group commit landed (polling thread): was it the newest? Was it
 * refused because the group has members (then say so)? */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    kafka_source_t *src = opaque; /* &src->health, the first member */
    rd_kafka_resp_err_t refused = err;
    pthread_mutex_lock(&src->mu);
    if (err || offsets == NULL) {
        src->recommit = src->ntarget > 0;
    } else {
        for (int i = 0; i < offsets->cnt; i++) {
            int p = offsets->elems[i].partition;
            if (offsets->elems[i].err && !refused) refused = offsets->elems[i].err;
            if (p >= 0 && p < src->ntarget &&
                (offsets->elems[i].err || offsets->elems[i].offset < src->target[p]))
                src->recommit = 1;
        }
    }
    pthread_mutex_unlock(&src->mu);
    if (refused_by_group(refused))
        log_warn_every("kafka-group-commit", 60,
                       "Kafka refuses the offsets of group '%s' (%s): another consumer is a "
                       "member of that group (kcat -G, a console consumer, a Spark job on the "
                       "same group.id). Nothing is lost, the batch log holds the position, but "
                       "the group's lag stays where it is until that consumer leaves; give one "
                       "of the two its own group.id ([kafka] group.id)",
                       src->group, rd_kafka_err2str(refused));
}

/* The target offsets as a partition list (NULL when there are none). */
static rd_kafka_topic_partition_list_t *target_list(kafka_source_t *src)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    pthread_mutex_lock(&src->mu);
    if (src->ntarget > 0) {
        l = rd_kafka_topic_partition_list_new(src->ntarget);
        for (int p = 0; p < src->ntarget; p++)
            rd_kafka_topic_partition_list_add(l, src->topic, p)->offset = src->target[p];
    }
    src->recommit = 0;
    pthread_mutex_unlock(&src->mu);
    return l;
}

void kafka_source_commit(kafka_source_t *src, const int64_t *end_offsets, int nparts)
{
    pthread_mutex_lock(&src->mu);
    if (nparts > MAX_PARTITIONS) nparts = MAX_PARTITIONS;
    for (int p = 0; p < nparts; p++)
        if (p >= src->ntarget || end_offsets[p] > src->target[p]) src->target[p] = end_offsets[p];
    if (nparts > src->ntarget) src->ntarget = nparts;
    /* While the broker is away, a commit would only wait in librdkafka
     * (and hold up its shutdown): keep the target, commit it when it is back. */
    int down = kafka_health_down(&src->health);
    if (down) src->recommit = 1;
    pthread_mutex_unlock(&src->mu);
    if (down) return;
    rd_kafka_topic_partition_list_t *l = target_list(src);
    if (l) {
        rd_kafka_commit(src->rk, l, 1);
        rd_kafka_topic_partition_list_destroy(l);
    }
}

/* Say what we are waiting for: at once, then every 10 s. */
static void say_waiting(int64_t *last_said, int64_t start, const char *what)
{
    int64_t now = mono_us();
    if (*last_said && now - *last_said < WAIT_REPORT_US) return;
    if (*last_said == 0)
        log_warn("%s; waiting", what);
    else
        log_warn("%s; still waiting after %.0f s", what, (double)(now - start) / 1e6);
    *last_said = now;
}

/* The topic's metadata, waiting (bounded) for the broker and the topic to
 * appear. Returns the partition count, or -1 with errstr. */
static int wait_for_topic(kafka_source_t *src, char *errstr, size_t errsize)
{
    int64_t start = mono_us(), said = 0;
    for (;;) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(src->rk, src->topic, NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(src->rk, 0, rkt, &md, 2000);
        rd_kafka_topic_destroy(rkt);
        char what[1024];
        int nparts = -1;
        if (err) {
            snprintf(what, sizeof what, "cannot reach Kafka at %s: %s", src->brokers,
                     rd_kafka_err2str(err));
        } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
            snprintf(what, sizeof what, "topic '%s' does not exist at Kafka %s (%s)", src->topic,
                     src->brokers,
                     md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
        } else {
            nparts = md->topics[0].partition_cnt;
        }
        if (md) rd_kafka_metadata_destroy(md);
        if (nparts > 0) {
            if (said)
                log_info("topic '%s' found after %.0f s", src->topic,
                         (double)(mono_us() - start) / 1e6);
            return nparts;
        }
        int64_t waited = (mono_us() - start) / 1000000;
        if (stop_requested) {
            snprintf(errstr, errsize, "stopped while waiting: %s", what);
            return -1;
        }
        if (src->wait_seconds > 0 && waited >= src->wait_seconds) {
            snprintf(errstr, errsize,
                     "%s after waiting %" PRId64 " s ([source] wait_seconds); start the broker "
                     "(from another host: check that this host reaches it and the address it "
                     "advertises), create the topic or pass --brokers / --topic",
                     what, waited);
            return -1;
        }
        say_waiting(&said, start, what);
        struct timespec nap = {0, 200000000};
        nanosleep(&nap, NULL);
    }
}

/* The low and high watermarks of a partition, waiting (bounded). 0 or -1. */
static int wait_for_watermarks(kafka_source_t *src, int p, int64_t *low, int64_t *high,
                               char *errstr, size_t errsize)
{
    int64_t start = mono_us(), said = 0;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(src->rk, src->topic, p, low, high, 2000);
        if (!err) return 0;
        char part[300];
        snprintf(part, sizeof part, "%s [%d]", src->topic, p);
        int64_t waited = (mono_us() - start) / 1000000;
        if (stop_requested) {
            snprintf(errstr, errsize, "stopped while waiting for the offsets of %s", part);
            return -1;
        }
        if (src->wait_seconds > 0 && waited >= src->wait_seconds) {
            snprintf(errstr, errsize,
                     "cannot read the offsets of %s: %s (gave up after %" PRId64
                     " s, [source] wait_seconds)",
                     part, rd_kafka_err2str(err), waited);
            return -1;
        }
        char what[512];
        snprintf(what, sizeof what, "cannot read the offsets of %s yet: %s", part,
                 rd_kafka_err2str(err));
        say_waiting(&said, start, what);
        struct timespec nap = {0, 200000000};
        nanosleep(&nap, NULL);
    }
}

/* Room for nparts partitions (new ones zeroed). 0 or -1. */
static int grow_parts(kafka_source_t *src, int nparts)
{
    partition_fifo_t *p = realloc(src->parts, (size_t)nparts * sizeof *p);
    if (p == NULL) return -1;
    for (int i = src->nparts; i < nparts; i++) {
        memset(&p[i], 0, sizeof p[i]);
        p[i].eof_end = -1;
    }
    src->parts = p;
    return 0;
}

/* The Kafka timestamps of the messages at offsets want[p] (-1: none asked)
 * of partitions [0, n), into got[p] (-1 when no message sits at exactly
 * that offset: deleted, or a transaction marker). A short assignment of
 * its own, cleared afterwards; bounded by 10 s. */
static void timestamps_at(kafka_source_t *src, int n, const int64_t *want, int64_t *got)
{
    if (n <= 0 || n > MAX_PARTITIONS) return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    int pending = 0;
    for (int p = 0; p < n; p++) {
        got[p] = -1;
        if (want[p] < 0) continue;
        rd_kafka_topic_partition_list_add(l, src->topic, p)->offset = want[p];
        pending++;
    }
    char done[MAX_PARTITIONS] = {0};
    if (pending && rd_kafka_assign(src->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int64_t deadline = mono_us() + 10000000;
        while (pending > 0 && mono_us() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(src->rk, 200);
            if (m == NULL) continue;
            int p = m->partition;
            if (p >= 0 && p < n && !done[p] &&
                (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ||
                 m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
                if (!m->err && m->offset == want[p]) got[p] = rd_kafka_message_timestamp(m, NULL);
                done[p] = 1;
                pending--;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(src->rk, NULL);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Assign partitions [from, to) at their start offsets (start[p], -1 or
 * missing = the earliest), after checking them against the topic (see
 * kafka_source_open; the check needs last_ts, NULL for new partitions).
 * 0, or -1 with errstr. */
static int assign_partitions(kafka_source_t *src, int from, int to, const int64_t *start_offsets,
                             const int64_t *last_ts, int n_start, int accept_gap, char *note,
                             size_t note_size, char *errstr, size_t errsize)
{
    int64_t empty = 0, low[to], high[to], start[to], before[to], ts[to];
    int foreign[to]; /* the partition is not the one batch_log describes */
    char problem[1024] = "";
    for (int p = from; p < to; p++) {
        start[p] = start_offsets && p < n_start ? start_offsets[p] : -1;
        if (wait_for_watermarks(src, p, &low[p], &high[p], errstr, errsize) != 0) return -1;
        /* the message just before the start, if batch_log knows its timestamp */
        before[p] =
            last_ts && p < n_start && last_ts[p] >= 0 && start[p] > low[p] && start[p] <= high[p]
                ? start[p] - 1
                : -1;
    }
    if (last_ts) timestamps_at(src, to, before, ts);
    for (int p = from; p < to; p++) {
        // cppcheck-suppress uninitvar -- set by the loop above, over the same range
        foreign[p] = start[p] > high[p] || (start[p] >= 0 && start[p] < low[p]) ||
                     (before[p] >= 0 && ts[p] >= 0 && ts[p] != last_ts[p]);
        if (!foreign[p] || problem[0]) continue;
        if (start[p] > high[p])
            snprintf(problem, sizeof problem,
                     "batch_log says %s [%d] was read up to offset %" PRId64
                     " but the partition ends at %" PRId64
                     ": the topic was recreated, or the broker lost its data",
                     src->topic, p, start[p], high[p]);
        else if (start[p] >= 0 && start[p] < low[p])
            snprintf(problem, sizeof problem,
                     "%s [%d]: offsets %" PRId64 "..%" PRId64
                     " were deleted (retention) before bankstream read them",
                     src->topic, p, start[p], low[p] - 1);
        else if (before[p] >= 0 && ts[p] >= 0 && ts[p] != last_ts[p])
            snprintf(problem, sizeof problem,
                     "%s [%d]: the message at offset %" PRId64 " has Kafka timestamp %" PRId64
                     " where batch_log recorded %" PRId64
                     ": this is not the topic bankstream read (recreated, or a broker that lost "
                     "its data and was refilled)",
                     src->topic, p, before[p], ts[p], last_ts[p]);
    }
    if (problem[0] && !accept_gap) {
        snprintf(errstr, errsize,
                 "%s; resuming would skip or misread messages. Point --topic at the topic "
                 "batch_log describes, start over with 'bankstream init --force' (the data is "
                 "lost), or go on with --accept-gap (recorded in batch_log)",
                 problem);
        return -1;
    }
    if (problem[0]) {
        log_warn("%s; going on as --accept-gap asks, recorded in batch_log", problem);
        if (note) snprintf(note, note_size, "--accept-gap: %s", problem);
    }
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(to - from);
    /* a partition that is not the one batch_log describes is read from its
     * start: what it holds now was never read (what was deleted is lost) */
    for (int p = from; p < to; p++) {
        int64_t at = foreign[p] || start[p] < low[p] ? low[p] : start[p];
        empty += high[p] - at;
        src->parts[p].position = at;
        rd_kafka_topic_partition_list_add(assign, src->topic, p)->offset = at;
    }
    rd_kafka_error_t *e = rd_kafka_incremental_assign(src->rk, assign);
    rd_kafka_topic_partition_list_destroy(assign);
    if (e) {
        snprintf(errstr, errsize, "cannot assign partitions of %s: %s", src->topic,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    if (from == 0 && empty == 0)
        log_info("topic '%s' has no message to process yet (a new or empty topic)", src->topic);
    return 0;
}

kafka_source_t *kafka_source_open(const job_config_t *job, const int64_t *start_offsets,
                                  const int64_t *last_ts, int n_start, size_t max_buffered,
                                  char *gap_note, size_t gap_note_size, char *errstr,
                                  size_t errsize)
{
    kafka_source_t *src = calloc(1, sizeof *src);
    rd_kafka_conf_t *conf = NULL;
    if (src == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&src->mu, NULL);
    const char *brokers = job_config_kafka(job, "bootstrap.servers");
    snprintf(src->topic, sizeof src->topic, "%s", job->topic);
    snprintf(src->brokers, sizeof src->brokers, "%s", brokers ? brokers : "");
    const char *group = job_config_kafka(job, "group.id");
    snprintf(src->group, sizeof src->group, "%s", group ? group : "");
    src->max_buffered = max_buffered;
    src->max_bytes = job->batch_max_bytes * 2;
    src->wait_seconds = job->source_wait_seconds;
    kafka_health_init(&src->health, src->brokers);

    conf = kafka_conf_new(brokers, NULL, 0, errstr, errsize);
    if (conf == NULL) goto fail;
    if (kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errsize) ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errsize) ||
        kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errsize) ||
        /* Positions come from batch_log; if one vanishes under us (retention,
         * a recreated topic) stop rather than jump elsewhere. */
        kafka_conf_set(conf, "auto.offset.reset", "error", errstr, errsize) ||
        /* An empty fetch waits this long even when data arrives meanwhile. */
        kafka_conf_set(conf, "fetch.wait.max.ms", "20", errstr, errsize) ||
        kafka_conf_set(conf, "queued.max.messages.kbytes", "65536", errstr, errsize) ||
        /* a broker that is back is seen within a second */
        kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", errstr, errsize) ||
        kafka_health_attach(&src->health, conf, errstr, errsize) != 0)
        goto fail;
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
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

    int nparts = wait_for_topic(src, errstr, errsize);
    if (nparts < 0) goto fail;
    if (nparts > MAX_PARTITIONS) {
        snprintf(errstr, errsize, "topic '%s' has %d partitions; bankstream reads at most %d",
                 src->topic, nparts, MAX_PARTITIONS);
        goto fail;
    }
    if (grow_parts(src, nparts) != 0) {
        snprintf(errstr, errsize, "out of memory");
        goto fail;
    }
    src->nparts = nparts;
    if (gap_note && gap_note_size) gap_note[0] = '\0';
    if (assign_partitions(src, 0, nparts, start_offsets, last_ts, n_start, job->accept_gap,
                          gap_note, gap_note_size, errstr, errsize) != 0)
        goto fail;
    src->last_refresh_us = mono_us();
    return src;
fail:
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
    int down = src->rk && kafka_health_down(&src->health);
    if (src->rk && !down) {
        rd_kafka_topic_partition_list_t *l = target_list(src);
        if (l) { /* the newest offsets, bounded */
            rd_kafka_queue_t *q = rd_kafka_queue_new(src->rk);
            if (rd_kafka_commit_queue(src->rk, l, q, NULL, NULL) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CLOSE_COMMIT_MS);
                if (ev == NULL)
                    log_warn("Kafka did not confirm the last offsets within %d ms; the batch log "
                             "has them",
                             CLOSE_COMMIT_MS);
                rd_kafka_event_destroy(ev);
            }
            rd_kafka_queue_destroy(q);
        }
        if (l) rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy_flags(src->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    } else if (down) {
        /* librdkafka's destroy waits for its group coordinator even so
         * (measured: 45 s while the broker was away): the process ends
         * right after this, so the client is left to the exit. */
        log_info("Kafka at %s is unreachable: closing without its last commit (the batch log "
                 "has the offsets)",
                 src->brokers);
    }
    kafka_health_free(&src->health);
    pthread_mutex_destroy(&src->mu);
    free(src);
}

int kafka_source_partitions(const kafka_source_t *src)
{
    return src->nparts;
}

int kafka_source_refresh(kafka_source_t *src)
{
    int64_t now = mono_us();
    if (now - src->last_refresh_us < REFRESH_EVERY_US || kafka_health_down(&src->health))
        return src->nparts;
    src->last_refresh_us = now;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(src->rk, src->topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(src->rk, 0, rkt, &md, 1000);
    rd_kafka_topic_destroy(rkt);
    int n = 0;
    if (!err) {
        if (md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (n <= src->nparts || n > MAX_PARTITIONS) return src->nparts;
    char why[512];
    if (grow_parts(src, n) != 0 ||
        assign_partitions(src, src->nparts, n, NULL, NULL, 0, 0, NULL, 0, why, sizeof why) != 0) {
        log_warn("topic '%s' now has %d partitions, but they could not be added: %s", src->topic, n,
                 why);
        return src->nparts;
    }
    log_info("topic '%s' grew from %d to %d partitions; reading the new ones from their start",
             src->topic, src->nparts, n);
    src->nparts = n;
    return n;
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

/* An error event of the consumer: fatal (-1 with errstr) or transient (0). */
static int consumer_error(kafka_source_t *src, const rd_kafka_message_t *m, char *errstr,
                          size_t errsize)
{
    char fatal[512];
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
        snprintf(errstr, errsize,
                 "%s [%d]: the next offset to process is no longer in the topic (%s); "
                 "messages were deleted before bankstream read them",
                 src->topic, (int)m->partition, rd_kafka_message_errstr(m));
        return -1;
    }
    if (rd_kafka_fatal_error(src->rk, fatal, sizeof fatal)) {
        snprintf(errstr, errsize, "Kafka consumer failed: %s", fatal);
        return -1;
    }
    log_warn_every("kafka-consume", 10, "Kafka: %s; retrying", rd_kafka_message_errstr(m));
    return 0;
}

int kafka_source_poll(kafka_source_t *src, int timeout_ms, char *errstr, size_t errsize)
{
    int added = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(src->rk, added ? 0 : timeout_ms);
        if (m == NULL) break;
        int p = m->partition;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p >= 0 && p < src->nparts) {
                src->parts[p].at_eof = 1;
                src->parts[p].eof_end = m->offset;
            }
            kafka_health_up(&src->health);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            int rc = consumer_error(src, m, errstr, errsize);
            rd_kafka_message_destroy(m);
            if (rc) return -1;
            continue;
        }
        kafka_health_up(&src->health);
        if (p < 0 || p >= src->nparts) { /* a partition not assigned yet */
            rd_kafka_message_destroy(m);
            continue;
        }
        partition_fifo_t *f = &src->parts[p];
        f->at_eof = 0;
        if (fifo_push(f, m) != 0) {
            rd_kafka_message_destroy(m);
            snprintf(errstr, errsize, "out of memory buffering Kafka messages");
            return -1;
        }
        if (f->count >= src->max_buffered || (int64_t)f->bytes >= src->max_bytes / src->nparts)
            set_paused(src, p, 1);
        if (++added >= 100000) break;
    }
    int64_t down = kafka_health_tick(&src->health);
    if (src->wait_seconds > 0 && down >= src->wait_seconds) {
        snprintf(errstr, errsize,
                 "Kafka at %s unreachable for %" PRId64 " s ([source] wait_seconds): %s",
                 src->brokers, down, src->health.reason[0] ? src->health.reason : "no broker");
        return -1;
    }
    pthread_mutex_lock(&src->mu);
    int recommit = src->recommit;
    pthread_mutex_unlock(&src->mu);
    if (recommit && !kafka_health_down(&src->health)) {
        rd_kafka_topic_partition_list_t *l = target_list(src);
        if (l) {
            rd_kafka_commit(src->rk, l, 1);
            rd_kafka_topic_partition_list_destroy(l);
        }
    }
    return added;
}

size_t kafka_source_buffered(const kafka_source_t *src, int partition)
{
    return src->parts[partition].count;
}

size_t kafka_source_fitting(const kafka_source_t *src, int partition, int64_t bytes, size_t max)
{
    const partition_fifo_t *f = &src->parts[partition];
    int64_t sum = 0;
    size_t n = 0;
    while (n < f->count && n < max) {
        sum += (int64_t)f->msgs[(f->head + n) % f->cap]->len;
        if (sum > bytes && n > 0) break;
        n++;
    }
    return n;
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
        f->bytes -= f->msgs[f->head]->len;
        rd_kafka_message_destroy(f->msgs[f->head]);
        f->head = (f->head + 1) % f->cap;
        f->count--;
    }
    if (f->paused && f->count < src->max_buffered / 2 &&
        (int64_t)f->bytes < src->max_bytes / src->nparts / 2)
        set_paused(src, partition, 0);
}

int64_t kafka_source_position(const kafka_source_t *src, int partition)
{
    return src->parts[partition].position;
}

int64_t kafka_source_drained_end(const kafka_source_t *src, int partition, int64_t end_offset)
{
    const partition_fifo_t *f = &src->parts[partition];
    return f->at_eof && f->count == 0 && f->eof_end > end_offset ? f->eof_end : end_offset;
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
