/* kafka_source.h - rank 0's consumer: all partitions of one topic, buffered
 * per partition so that batches can be cut deterministically.
 *
 * The consumer is assigned (not subscribed) to every partition at the
 * offsets the batch log says come next; Kafka's committed offsets are only
 * written afterwards for monitoring (kafka_source_commit). Messages wait in
 * a per-partition FIFO until the cutter takes them into a batch; a partition
 * whose FIFO grows past its bound (in messages, or in bytes: twice a
 * batch's byte share) is paused until it drains.
 *
 * No silent waits: a broker that cannot be reached, a topic that does not
 * exist yet, an outage while running are reported when they start, every
 * 10 s while they last and when they end (kafka_health.h), and give up after
 * `[source] wait_seconds` (0 = wait for ever), or at once on a stop request
 * (base/stop.h), with an error that says what was waited for. Partitions added to the topic while
 * running are picked up (kafka_source_refresh). */
#ifndef BS_KAFKA_SOURCE_H
#define BS_KAFKA_SOURCE_H

#include "base/job.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kafka_source kafka_source_t;

/* Connect, wait for the topic and assign all its partitions.
 * start_offsets[0..n_start) are the next offsets to read (-1 or missing =
 * the earliest available) and last_ts[p] (-1 = unknown) the Kafka
 * timestamp batch_log recorded for the message just before start_offsets[p].
 *
 * The topic must be the one batch_log describes: every start offset within
 * the partition's [low, high] watermarks (messages not deleted before they
 * were read, a partition not shorter than what was read), and the message
 * before it still carrying the recorded timestamp (not a topic recreated, or
 * a broker that lost its data and was refilled). When it is not, the open
 * fails with an error that says what happened and how to choose: start
 * over (`init --force`), or go on with `--accept-gap` (job->accept_gap), and
 * then such a partition is read from its start (what it holds now was never
 * read; what was deleted is lost) and *gap_note (may be NULL) says what was
 * accepted, for the next batch_log row.
 *
 * Returns NULL with errstr when the broker or the topic did not appear
 * within wait_seconds, or the topic does not fit batch_log. */
kafka_source_t *kafka_source_open(const job_config_t *job, const int64_t *start_offsets,
                                  const int64_t *last_ts, int n_start, size_t max_buffered,
                                  char *gap_note, size_t gap_note_size, char *errstr,
                                  size_t errsize);

/* Close without waiting on an unreachable broker: when it is reachable, a
 * last synchronous commit of the newest offsets (bounded: 5 s), then destroy
 * without the consumer close handshake; when it is not, nothing (librdkafka
 * would wait for its group coordinator: the client is left to the process's
 * exit). The batch log is the truth either way. NULL-safe. */
void kafka_source_close(kafka_source_t *src);

int kafka_source_partitions(const kafka_source_t *src);

/* Poll for up to timeout_ms, moving messages into the FIFOs; report outage
 * transitions. Returns the number of messages added, or -1 with errstr on a
 * fatal consumer error or an outage longer than wait_seconds. */
int kafka_source_poll(kafka_source_t *src, int timeout_ms, char *errstr, size_t errsize);

/* Look for partitions added to the topic (a metadata request, at most every
 * 10 s; cheap otherwise) and assign them from their earliest offset.
 * Returns the partition count. */
int kafka_source_refresh(kafka_source_t *src);

size_t kafka_source_buffered(const kafka_source_t *src, int partition);
/* How many leading buffered messages of a partition, at most max, fit
 * `bytes` of payload together (at least one when one is buffered). */
size_t kafka_source_fitting(const kafka_source_t *src, int partition, int64_t bytes, size_t max);
/* 1 when the partition is read up to its end (high watermark) and its FIFO
 * is empty. */
int kafka_source_drained(const kafka_source_t *src, int partition);
/* 1 when everything up to the partition's end is buffered (its FIFO may
 * hold messages). */
int kafka_source_at_end(const kafka_source_t *src, int partition);
/* The i-th buffered message of a partition (still owned by the source). */
const rd_kafka_message_t *kafka_source_peek(const kafka_source_t *src, int partition, size_t i);
/* Destroy the first n buffered messages of a partition. */
void kafka_source_drop(kafka_source_t *src, int partition, size_t n);
/* Offset the next batch starts at, for a partition. */
int64_t kafka_source_position(const kafka_source_t *src, int partition);
/* The end offset of a batch that took every buffered message of a drained
 * partition: past the last message, and past any transaction markers or
 * aborted records after it (the partition's end as the broker reported it),
 * so that neither the next run nor the group's lag counts them. */
int64_t kafka_source_drained_end(const kafka_source_t *src, int partition, int64_t end_offset);
/* Record that a batch took the partition up to (excluding) end_offset. */
void kafka_source_advance(kafka_source_t *src, int partition, int64_t end_offset);

/* Messages after the next batch's start, from librdkafka's cached high
 * watermark (no broker round trip); -1 when not known yet. */
int64_t kafka_source_lag(kafka_source_t *src, int partition);

/* Commit offsets to Kafka's group coordinator, asynchronously (monitoring
 * only: lag shows in Kafka tools). Any thread. Offsets never go backwards:
 * a commit that lands late (librdkafka retries) is followed by one of the
 * newest offsets. */
void kafka_source_commit(kafka_source_t *src, const int64_t *end_offsets, int nparts);

#endif
