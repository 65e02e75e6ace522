/* batch.h - one micro-batch as rank 0 holds it, from cut to commit.
 *
 * A batch is a set of per-partition offset ranges [start, end) and one row per
 * consumed message, in (partition, offset) order. Rows are transactions to
 * decide, duplicates (id seen before) or dead letters (could not be decoded);
 * the raw bytes of the last two and the decode errors live in the batch's
 * arena. Life cycle (coordinator.c):
 *   cut (batch_add_*) -> routed and decided (rows get status) -> committed by
 *   the sink in one Postgres transaction -> Kafka offsets committed -> freed. */
#ifndef BS_BATCH_H
#define BS_BATCH_H

#include "base/txn.h"

#include <stddef.h>
#include <stdint.h>

enum row_kind { ROW_TXN = 0, ROW_DUPLICATE = 1, ROW_DEAD = 2 };

typedef struct batch_row {
    txn_t txn;
    int64_t offset;
    int64_t kafka_ts_ms;
    int32_t partition;
    uint8_t kind; /* enum row_kind */
    uint8_t status, reason, has_scores;
    double t5, t6, t7;
    uint32_t raw_off, raw_len; /* arena bytes (duplicates and dead letters) */
    uint32_t err_off, err_len; /* arena bytes (dead letters) */
} batch_row_t;

typedef struct batch {
    int64_t id;
    int nparts;
    int64_t *start_offsets, *end_offsets; /* [nparts] */
    batch_row_t *rows;
    size_t nrows, rows_cap;
    char *arena;
    size_t arena_len, arena_cap;
    int64_t start_us;  /* processing start (cut done) */
    int64_t result_us; /* results gathered */
    double cut_decide_seconds;
    int ranks;
    /* counts filled by batch_count() */
    int n_approved, n_rejected, n_not_processed, n_duplicates, n_dead;
} batch_t;

/* Allocate an empty batch for nparts partitions; NULL when out of memory. */
batch_t *batch_new(int nparts);
void batch_free(batch_t *b);
/* Forget rows and arena (keeps memory); offsets are left as they are. */
void batch_clear(batch_t *b);

/* Append a row; returns it, or NULL when out of memory. */
batch_row_t *batch_add_row(batch_t *b);
/* Copy bytes into the arena; returns 0 and the offset, or -1. */
int batch_arena_put(batch_t *b, const void *p, size_t len, uint32_t *off);

void batch_count(batch_t *b);

#endif
