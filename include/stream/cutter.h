/* cutter.h - rank 0 cuts the stream into batches: when a batch is ready,
 * and what goes into it.
 *
 * Count-bounded batches are deterministic: partition p contributes up to
 * quota(p) = batch_size / nparts messages (the remainder going to the lowest
 * partitions, at least 1), and a batch is cut only once every partition
 * has its quota buffered or is read to its end. With max_ms > 0 a batch is
 * also cut max_ms after its first message arrived, whatever is buffered
 * then (timing-dependent, but recorded in batch_log like any other).
 * While the sink is idle (nothing queued or committing), the time bound is
 * min_ms instead (when smaller): a batch does not wait for company that
 * would only delay it, and batches grow again as soon as commits take
 * longer than messages take to arrive (group commit). For the same reason
 * a partition read to its end completes a batch only while the sink is
 * idle: while it commits, such a batch would queue behind the commit, and
 * the messages that arrive meanwhile would wait for two commits, not one
 * (on a stream that keeps up, every partition is often at its end).
 * Bytes bound a batch too, as deterministically: partition p contributes
 * only the leading messages whose bytes fit max_bytes / nparts (at least
 * one message), and a partition whose next message would not fit is
 * complete.
 *
 * Cutting decodes each message, JSON or Avro (msgdecode.h; a message that
 * is not a valid transaction becomes a dead-letter row), turns ids seen
 * before into duplicate rows (dedupe.h: every id committed, and every id
 * cut since), and records the batch's offset ranges. A batch is not cut while
 * one of its messages is an Avro message whose schema the registry cannot
 * give now (an outage): it would otherwise become a dead letter. The batch
 * waits, whatever max_ms says, and is cut as it would have been once the
 * registry answers. */
#ifndef BS_CUTTER_H
#define BS_CUTTER_H

#include "base/job.h"
#include "kafka/kafka_source.h"
#include "stream/batch.h"
#include "stream/dedupe.h"
#include "stream/msgdecode.h"

#include <stdint.h>

typedef struct cutter {
    const job_config_t *job;
    kafka_source_t *src;
    msgdecode_t *dec; /* JSON and Avro (borrowed); NULL: JSON only */
    int nparts;
    dedupe_t dedupe;          /* the duplicate filter */
    int64_t next_batch_id;    /* the id the next batch gets */
    int64_t pending_since_us; /* when the oldest not-yet-cut message arrived; 0 = none */
} cutter_t;

/* The cut of one partition, as cutter_plan sees it. */
typedef struct cut_partition {
    size_t buffered; /* messages waiting in the source */
    size_t fit;      /* how many of the leading ones fit the byte quota (<= buffered) */
    int at_end;      /* everything up to the partition's end is buffered */
    int drained;     /* at_end and nothing buffered */
} cut_partition_t;

/* The rule above, without the source: is a batch of batch_size messages
 * over nparts partitions ready (1), to wait for (0), or is nothing left
 * (-1)? (fit < buffered means the byte quota is full.) pending_ms is how long the oldest buffered
 * message has waited and max_ms the time bound (0 = none); sink_idle says whether a partition
 * at its end is complete. When ready, take[p] is how many messages partition p contributes.
 * Pure. */
int cutter_plan(const cut_partition_t *parts, int nparts, int64_t batch_size, int64_t max_ms,
                int64_t pending_ms, int sink_idle, size_t *take);

/* A cutter whose duplicate filter (dedupe.h) has job's
 * duplicate_filter_bytes, keeps every id exactly when keep_all_ids (a sink
 * that keeps nothing) and asks `lookup` about the ids it may have seen. 0,
 * or -1 when out of memory. */
int cutter_init(cutter_t *ct, const job_config_t *job, int keep_all_ids, dedupe_lookup_fn lookup,
                void *lookup_ctx);
void cutter_free(cutter_t *ct);

/* The time bound cutter_plan gets: max_ms, or min_ms while the sink is
 * idle when that is smaller (never with max_ms 0: count-bounded stays so). */
int64_t cutter_time_bound(int64_t max_ms, int64_t min_ms, int sink_idle);

/* Is a batch ready (sink_idle: the sink has nothing to do, see above)?
 * 1 = cut now, 0 = wait (cutter_plan says so, or a message it would take
 * waits for its schema), -1 = nothing left (every partition read to its end
 * and nothing buffered). */
int cutter_ready(cutter_t *ct, int sink_idle);

/* Is a message waiting to be cut? */
static inline int cutter_pending(const cutter_t *ct)
{
    return ct->pending_since_us != 0;
}

/* Take the next batch out of the source, into a new batch in state CUT,
 * decided by `ranks` ranks. NULL with errstr when out of memory or the
 * duplicate filter's database lookup failed (the source is then unchanged:
 * the run must stop). */
batch_t *batch_cut(cutter_t *ct, int ranks, char *errstr, size_t errsize);

#endif
