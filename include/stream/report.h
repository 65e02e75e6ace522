/* report.h - the run's totals, counted as batches are acknowledged (on the
 * sink thread), and the summary `run` prints at a clean stop.
 *
 * Thread-safe: totals_add runs on the sink thread while the main thread
 * reads the progress for its periodic log line. */
#ifndef BS_REPORT_H
#define BS_REPORT_H

#include "base/histo.h"
#include "cluster/cluster.h"
#include "stream/batch.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Where a batch's time goes, one histogram per stage (ms): */
enum report_stage {
    STAGE_CUT_WAIT, /* per transaction: Kafka timestamp -> its batch is cut */
    STAGE_DECIDE,   /* per batch: CUT -> DECIDED (routing, deciding, gathering) */
    STAGE_ARCHIVE,  /* per batch: DECIDED -> QUEUED (the archive append) */
    STAGE_QUEUE,    /* per batch: QUEUED -> the sink thread takes it */
    STAGE_COMMIT,   /* per batch: the one PostgreSQL transaction (COPY + COMMIT) */
    STAGE_ACK,      /* per batch: the Kafka offsets handed over */
    STAGE_COUNT
};

typedef struct run_totals {
    pthread_mutex_t mu;
    int64_t batches;
    batch_counts_t counts;
    /* In fixed memory (histo.h), however long the run: */
    histo_t latency; /* per transaction: Kafka timestamp -> result (latencia_total_ms) */
    histo_t visible; /* per transaction: Kafka timestamp -> committed (visible) */
    histo_t stage[STAGE_COUNT];
    int64_t first_cut_us, last_commit_us;
    int64_t commit_us; /* the sink's time in commits, all batches */
} run_totals_t;

/* 0, or -1 when out of memory. */
int totals_init(run_totals_t *t);
void totals_free(run_totals_t *t);

/* Count an acknowledged batch (its counts and its rows' latencies). */
void totals_add(run_totals_t *t, const batch_t *b);

/* Batches and messages counted so far. */
void totals_progress(run_totals_t *t, int64_t *batches, int64_t *messages);

/* Print the summary on stdout: throughput, outcomes by reason, latency
 * percentiles (to the result, and to the commit), where the time goes
 * (each stage's p50/p99), the sink's own rate (messages per second of
 * commit), and each rank's memory and users (stats, may be NULL). */
void report_print(run_totals_t *t, const cluster_rank_stats_t *stats, int nranks);

#endif
