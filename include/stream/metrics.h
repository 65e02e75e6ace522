/* metrics.h - rank 0's progress as Prometheus text on ADDR:port/metrics
 * (ADDR: [metrics] listen, default 127.0.0.1).
 *
 * The coordinator's main thread and its sink thread update counters; an HTTP
 * thread owned by libmicrohttpd renders them on GET /metrics (text format
 * 0.0.4). A mutex guards the counters; a scrape copies them and formats
 * outside the lock, so an update never waits on a slow client.
 *
 * Life cycle: metrics_start -> updates (any thread) -> metrics_stop.
 * Port 0 disables the server: metrics_start still returns an object, every
 * update is a no-op on it, so callers need no "is metrics on?" tests.
 *
 * Families served (each with HELP and TYPE):
 *   bankstream_up 1                                     gauge
 *   bankstream_ranks                                    gauge
 *   bankstream_batches_committed_total                  counter
 *   bankstream_messages_total                           counter
 *   bankstream_transactions_total{status=...}           counter (3 statuses)
 *   bankstream_rejections_total{motivo=...}             counter (every reason)
 *   bankstream_duplicates_total                         counter
 *   bankstream_dead_letters_total                       counter
 *   bankstream_last_batch_id                            gauge (after a commit)
 *   bankstream_batch_seconds_{bucket,sum,count}         histogram (cut+decide+commit)
 *   bankstream_kafka_lag{partition="p"}                 gauge (partitions set) */
#ifndef BS_METRICS_H
#define BS_METRICS_H

#include "stream/batch.h"

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_PARTITIONS 1024

typedef struct metrics metrics_t;

/* Serve /metrics on 127.0.0.1:port from a thread of its own. port 0 returns
 * a disabled object that serves nothing. Returns NULL with errstr when the
 * port is out of range, in use ("metrics port P is in use; set [metrics] port
 * to another port or 0"), or the server cannot start. The caller owns the
 * object and releases it with metrics_stop. */
metrics_t *metrics_start(int port, char *errstr, size_t errsize);

/* metrics_start on listen:port instead of 127.0.0.1 (listen: a numeric
 * IPv4 or IPv6 address of this host, or "*" for every IPv4 address; NULL
 * or "" = 127.0.0.1). Also fails, with errstr, when listen is not such an
 * address ("... is not an address of this host"). */
metrics_t *metrics_start_on(const char *listen, int port, char *errstr, size_t errsize);

/* Stop serving (waits for the HTTP thread, closes the socket) and free.
 * NULL-safe. No update may run concurrently with or after this call. */
void metrics_stop(metrics_t *m);

/* The port served, 0 when disabled or m is NULL. */
int metrics_port(const metrics_t *m);

/* The address served ("127.0.0.1" by default; "" when m is NULL). */
const char *metrics_listen(const metrics_t *m);

/* Count one committed batch: its counts (stream/batch.h) and, in the
 * duration histogram, cut_decide_seconds + commit_seconds. */
void metrics_batch_committed(metrics_t *m, int64_t batch_id, const batch_counts_t *counts,
                             double cut_decide_seconds, double commit_seconds);

/* Messages of a partition not yet consumed (high watermark - position).
 * Partitions outside 0..METRICS_MAX_PARTITIONS-1 are ignored. */
void metrics_set_lag(metrics_t *m, int partition, int64_t lag);

/* Number of MPI ranks of the run. */
void metrics_set_ranks(metrics_t *m, int ranks);

#endif
