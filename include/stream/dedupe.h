/* dedupe.h - rank 0's duplicate filter, in memory bounded by a setting
 * rather than by history.
 *
 * A transaction id is a duplicate when the database has it (transacoes, or
 * transacoes_ids_expurgados after retention: the primary keys are the
 * authority) or when it was cut earlier in this run. Three layers answer,
 * cheapest first:
 *
 *   pending   the ids of each batch cut and not yet committed, an exact set
 *             per batch, dropped once the sink says the batch is committed
 *             (the database has its ids then);
 *   seen      a Bloom filter (bloom.h) of every id committed before the run
 *             (dedupe_seed) and every id cut since: `[batch]
 *             duplicate_filter_bytes` of memory, whatever the history; for
 *             almost every new id it answers "certainly never seen";
 *   lookup    the database, asked once per batch about the ids the filter
 *             may have seen (its false positives, and the true duplicates).
 *
 * Memory: the filter, plus the pending batches' ids (a few batches). With a
 * sink that keeps nothing (`--sink none`), the database never learns the
 * ids, so every id cut stays in an exact set for the whole run (that mode
 * measures; it is not for production).
 *
 * Threads: dedupe_committed may be called from the sink thread; everything
 * else from the cutting thread. */
#ifndef BS_DEDUPE_H
#define BS_DEDUPE_H

#include "base/bloom.h"
#include "base/idset.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Which of ids[0..n) the database has; put them into `found`. 0, or -1 with
 * errstr (the run stops). */
typedef int (*dedupe_lookup_fn)(void *ctx, const uint8_t (*ids)[16], size_t n, idset_t *found,
                                char *errstr, size_t errsize);

typedef struct dedupe_pending {
    int64_t batch;
    idset_t ids;
} dedupe_pending_t;

typedef struct dedupe {
    bloom_t seen;
    dedupe_pending_t *pending; /* oldest first */
    size_t npending, cap;
    int keep_all;              /* the sink keeps nothing: never drop a batch's ids */
    _Atomic int64_t committed; /* the newest batch the sink committed */
    dedupe_lookup_fn lookup;
    void *lookup_ctx;
    /* Counters (the run's summary): */
    int64_t lookups;   /* queries made */
    int64_t looked_up; /* ids asked about */
    int64_t found; /* ... that the database had (the others were the filter's false positives) */
} dedupe_t;

/* A filter of about filter_bytes (bloom_init's rounding). keep_all: see
 * above. 0, or -1 when out of memory. */
int dedupe_init(dedupe_t *d, size_t filter_bytes, int keep_all, dedupe_lookup_fn lookup,
                void *lookup_ctx);
void dedupe_free(dedupe_t *d);

/* An id the database had when the run started (pgstate_each_seen_id's
 * callback: ctx is the dedupe_t). Always 0. */
int dedupe_seed(void *ctx, const uint8_t id[16]);

/* Batches up to `batch` are committed and visible to the lookup's
 * connection (any thread). */
void dedupe_committed(dedupe_t *d, int64_t batch);

/* The ids of batch `batch` (newer than every batch before), in the batch's
 * order: dup[i] = 1 when ids[i] was seen before (in the database, in an
 * earlier batch, or earlier in this list), else 0 and the id is now seen.
 * 0, or -1 with errstr (out of memory, or the lookup failed): the run
 * must stop. */
int dedupe_batch(dedupe_t *d, int64_t batch, const uint8_t (*ids)[16], size_t n, uint8_t *dup,
                 char *errstr, size_t errsize);

/* The ids held exactly now (the pending batches'), and the filter's
 * expected false-positive rate. */
size_t dedupe_pending_ids(const dedupe_t *d);
double dedupe_fp_rate(const dedupe_t *d);

#endif
