/* commitq.c - the sink thread and its bounded queue (see commitq.h).
 *
 * One mutex guards the ring, `busy`, `ahead` and the failure; the condition
 * variable wakes both sides (a batch queued, a slot freed, the queue
 * drained).
 *
 * Ahead (a sink that offers it, sink.h): while the sink thread commits a
 * batch, the batch next in line is handed to sink->ahead as soon as it is
 * queued or becomes next (offer_next), so that the sink writes it while
 * the batch before it commits. The queue then counts as idle for the cutter
 * (commitq_idle) only while the sink could take another one ahead. */
#include "stream/commitq.h"
#include "base/log.h"
#include "base/timeparse.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMITQ_MAX_DEPTH 16

struct commitq {
    stream_sink_t *sink;
    commitq_hooks_t hooks;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch_t *ring[COMMITQ_MAX_DEPTH];
    int depth, head, len;
    int busy;             /* the sink thread holds a batch outside the ring */
    const batch_t *ahead; /* in the ring, handed to sink->ahead */
    int closing;          /* commitq_stop: leave once the ring is empty */
    int failed;
    char error[1200];
};

/* Under the mutex: the batch next in line to the sink, if the sink thread
 * is committing another and the sink takes it ahead. */
static void offer_next(commitq_t *q)
{
    if (!q->busy || q->len == 0 || q->ahead != NULL || q->failed || q->sink->ahead == NULL) return;
    batch_t *next = q->ring[q->head];
    if (q->sink->ahead(q->sink, next)) q->ahead = next;
}

/* Commit one batch (outside the lock): QUEUED -> COMMITTED -> ACKED. */
static int commit_one(commitq_t *q, batch_t *b, char *err, size_t errsize)
{
    int64_t t0 = b->commit_start_us = timeparse_now_us();
    if (q->sink->commit(q->sink, b, err, errsize) != 0) return -1;
    b->committed_us = timeparse_now_us();
    batch_enter(b, BATCH_COMMITTED);
    if (q->sink->durable && q->hooks.ack) q->hooks.ack(q->hooks.arg, b);
    b->acked_us = timeparse_now_us();
    batch_enter(b, BATCH_ACKED);
    double secs = (double)(b->committed_us - t0) / 1e6;
    log_debug("batch %" PRId64 ": %zu rows committed in %.1f ms", b->id, b->nrows, secs * 1e3);
    if (q->hooks.done) q->hooks.done(q->hooks.arg, b, secs);
    return 0;
}

static void *sink_main(void *arg)
{
    commitq_t *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->len == 0 && !q->closing)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->len == 0) break;
        batch_t *b = q->ring[q->head];
        q->head = (q->head + 1) % q->depth;
        q->len--;
        q->busy = 1;
        int failed = q->failed, was_ahead = b == q->ahead;
        q->ahead = NULL;
        offer_next(q);
        pthread_mutex_unlock(&q->mu);

        char err[1024] = "";
        if (failed && was_ahead) q->sink->forget(q->sink);
        int rc = failed ? -1 : commit_one(q, b, err, sizeof err);

        pthread_mutex_lock(&q->mu);
        if (rc != 0 && !q->failed) {
            q->failed = 1;
            snprintf(q->error, sizeof q->error, "batch %" PRId64 " not committed: %s", b->id, err);
        }
        batch_free(b);
        q->busy = 0;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

commitq_t *commitq_start(stream_sink_t *sink, int depth, const commitq_hooks_t *hooks, char *errstr,
                         size_t errsize)
{
    commitq_t *q = calloc(1, sizeof *q);
    if (q == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    q->sink = sink;
    q->hooks = *hooks;
    q->depth = depth < 1 ? 1 : depth > COMMITQ_MAX_DEPTH ? COMMITQ_MAX_DEPTH : depth;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->thread, NULL, sink_main, q) != 0) {
        snprintf(errstr, errsize, "cannot start the sink thread");
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        free(q);
        return NULL;
    }
    return q;
}

int commitq_submit(commitq_t *q, batch_t *b)
{
    b->queued_us = timeparse_now_us();
    batch_enter(b, BATCH_QUEUED);
    pthread_mutex_lock(&q->mu);
    while (q->len == q->depth && !q->failed)
        pthread_cond_wait(&q->cv, &q->mu);
    int failed = q->failed;
    if (!failed) {
        q->ring[(q->head + q->len) % q->depth] = b;
        q->len++;
        offer_next(q);
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (failed) batch_free(b);
    return failed ? -1 : 0;
}

int commitq_drain(commitq_t *q)
{
    pthread_mutex_lock(&q->mu);
    while ((q->len > 0 || q->busy) && !q->failed)
        pthread_cond_wait(&q->cv, &q->mu);
    int failed = q->failed;
    pthread_mutex_unlock(&q->mu);
    return failed ? -1 : 0;
}

int commitq_idle(commitq_t *q)
{
    pthread_mutex_lock(&q->mu);
    int idle = q->len == 0 && (!q->busy || (q->sink->ahead && q->sink->ahead(q->sink, NULL)));
    pthread_mutex_unlock(&q->mu);
    return idle;
}

int commitq_failed(commitq_t *q, char *errstr, size_t errsize)
{
    pthread_mutex_lock(&q->mu);
    int failed = q->failed;
    if (failed) snprintf(errstr, errsize, "%s", q->error);
    pthread_mutex_unlock(&q->mu);
    return failed;
}

void commitq_stop(commitq_t *q)
{
    if (q == NULL) return;
    pthread_mutex_lock(&q->mu);
    q->closing = 1;
    q->failed = 1; /* what is still queued is dropped, not committed */
    if (q->error[0] == '\0') snprintf(q->error, sizeof q->error, "the commit queue was stopped");
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}
