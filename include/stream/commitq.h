/* commitq.h - the commit queue: decided batches are committed, in order, on
 * a thread of their own (the sink thread), so that committing batch k
 * overlaps cutting and deciding batch k+1.
 *
 * At most `depth` batches wait. On the sink thread each batch goes QUEUED ->
 * COMMITTED (sink->commit) -> ACKED (ack: its offsets to Kafka's group, when
 * the sink is durable), then `done` sees it and it is freed. The first
 * failed commit fails the queue: later batches are dropped uncommitted, and
 * every call on the main thread reports the failure from then on. The main
 * thread makes every MPI and HDF5 call; the sink thread makes none. */
#ifndef BS_COMMITQ_H
#define BS_COMMITQ_H

#include "stream/batch.h"
#include "stream/sink.h"

#include <stddef.h>

typedef struct commitq commitq_t;

typedef struct commitq_hooks {
    /* ACKED: the batch's offsets to Kafka (called only for a durable sink). */
    void (*ack)(void *arg, const batch_t *b);
    /* After ACKED, before the batch is freed: count it (metrics, totals). */
    void (*done)(void *arg, const batch_t *b, double commit_seconds);
    void *arg;
} commitq_hooks_t;

/* Start the sink thread over `sink` (not owned). NULL with errstr when the
 * thread cannot be started. */
commitq_t *commitq_start(stream_sink_t *sink, int depth, const commitq_hooks_t *hooks, char *errstr,
                         size_t errsize);

/* ARCHIVED -> QUEUED: hand b over (the queue owns it from now on, even on
 * failure). Blocks while the queue is full. 0, or -1 when the queue failed. */
int commitq_submit(commitq_t *q, batch_t *b);

/* Wait until every queued batch is ACKED. 0, or -1 when the queue failed. */
int commitq_drain(commitq_t *q);

/* 1 when the sink could start the next batch now: none is queued, and
 * none is being committed, or the sink can take the next one ahead (see
 * commitq.c). */
int commitq_idle(commitq_t *q);

/* 1 when a commit failed, with its message in errstr; else 0. */
int commitq_failed(commitq_t *q, char *errstr, size_t errsize);

/* Stop the thread once the batch being committed is done; queued batches
 * not yet committed are freed uncommitted. NULL-safe. */
void commitq_stop(commitq_t *q);

#endif
