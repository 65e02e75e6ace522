/* report.h - the run's totals, counted as batches are acknowledged (on the
 * sink thread), and the summary `run` prints at a clean stop.
 *
 * Thread-safe: totals_add runs on the sink thread while the main thread
 * reads the progress for its periodic log line. */
#ifndef BS_REPORT_H
#define BS_REPORT_H

#include "cluster/cluster.h"
#include "stream/batch.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct run_totals {
    pthread_mutex_t mu;
    int64_t batches;
    batch_counts_t counts;
    int64_t *latencies_ms; /* Kafka timestamp -> result, per transaction */
    size_t nlat, latcap;
    int64_t first_cut_us, last_commit_us;
} run_totals_t;

void totals_init(run_totals_t *t);
void totals_free(run_totals_t *t);

/* Count an acknowledged batch (its counts and its rows' latencies). */
void totals_add(run_totals_t *t, const batch_t *b);

/* Batches and messages counted so far. */
void totals_progress(run_totals_t *t, int64_t *batches, int64_t *messages);

/* Print the summary on stdout: throughput, outcomes by reason, latency
 * percentiles, and each rank's memory and users (stats, may be NULL). */
void report_print(run_totals_t *t, const cluster_rank_stats_t *stats, int nranks);

#endif
