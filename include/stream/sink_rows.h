/* sink_rows.h - a batch's rows as PostgreSQL binary COPY streams
 * (pg/pgcopy.h): the one place that says which column of transacoes,
 * transacoes_scores, transacoes_duplicadas and dead_letters gets what.
 *
 * A slice is what one connection of a sliced commit writes
 * (stream/sink_slices.h): the transactions whose payer's owner among
 * `slices` is `slice`, owner being engine/route.h's hash, the one that
 * places users on workers; slices = 1 is every transaction. The payer
 * decides because a sharded PostgreSQL is keyed by payer: a slice is what
 * one shard would hold. Duplicates and dead letters have no payer we can
 * trust; they go with the batch_log row. */
#ifndef BS_SINK_ROWS_H
#define BS_SINK_ROWS_H

#include "pg/pgcopy.h"
#include "stream/batch.h"

#include <stddef.h>
#include <stdint.h>

/* Bytes of a dead letter's message that dead_letters.payload keeps. */
#define SINK_ROWS_DEAD_LETTER_MAX ((size_t)64 << 10)

/* The COPY statement of sink_rows_transacoes; with_created_at: the rows
 * carry created_at (a sliced commit sets one value for every slice, as one
 * transaction's default now() would), else the column's default fills it. */
const char *sink_rows_transacoes_sql(int with_created_at);
extern const char sink_rows_scores_sql[];
extern const char sink_rows_duplicates_sql[];
extern const char sink_rows_dead_letters_sql[];

/* 1 when transaction row r belongs to slice `slice` of `slices`. */
int sink_rows_in_slice(const batch_row_t *r, int slice, int slices);

/* The number of transaction rows of the slice. */
size_t sink_rows_count(const batch_t *b, int slice, int slices);

/* Each fills c (pgcopy_begin .. pgcopy_end) with the batch's rows of that
 * table; c->failed when out of memory. created_at_us: µs since the Unix
 * epoch of the wall time created_at holds, or INT64_MIN for none (then use
 * sink_rows_transacoes_sql(0)). */
void sink_rows_transacoes(pgcopy_t *c, const batch_t *b, int slice, int slices,
                          int64_t created_at_us);
void sink_rows_scores(pgcopy_t *c, const batch_t *b, int slice, int slices);
void sink_rows_duplicates(pgcopy_t *c, const batch_t *b, const char *topic);
void sink_rows_dead_letters(pgcopy_t *c, const batch_t *b, const char *topic);

#endif
