/* h5archive.h - the columnar HDF5 transaction archive: transactions with their
 * Kafka coordinates and results, written by the stream (per snapshot interval)
 * and by `bankstream produce --hdf5`, read back by `replay` (in parallel).
 *
 * File layout, format_version 1 (h5dump and h5py read it; every dataset
 * carries `units` and `meaning` attributes). Every dataset is 1-D of length
 * n_rows (the ids [n_rows][16]), chunked by the same number of rows
 * (attribute chunk_rows of /transactions, 65536); the numeric columns are
 * shuffled and deflated (level 1), the random UUIDs stored as they are;
 * every chunk of every dataset carries a Fletcher32 checksum (HDF5's
 * filter), so that a damaged chunk fails its read, naming the dataset,
 * instead of replaying other data (archives of older versions have none):
 *   /                          attributes format_version (int32 = 1), kind
 *                              ("bankstream transaction archive"),
 *                              created_unix_us, created_iso, source ("stream" |
 *                              "produce"; "replay" in files of bankstream
 *                              versions whose replay wrote archives: replay
 *                              now writes h5results.h files),
 *                              topic, first_batch_id, last_batch_id
 *                              (-1 for produce or when empty), seed (uint64,
 *                              produce only), n_rows
 *   /transactions/id           uint8[n][16]  id_transacao (UUID bytes)
 *   /transactions/payer        uint8[n][16]  id_usuario_pagador
 *   /transactions/receiver     uint8[n][16]  id_usuario_recebedor
 *   /transactions/time_us      int64  data_horario, µs since 1970-01-01 UTC
 *   /transactions/amount_cents int64  valor_transacao, centavos
 *   /transactions/region       uint8  index into attribute codes (the 27 UFs)
 *   /transactions/modality     uint8  index into attribute names (PIX,TED,DOC,Boleto)
 *   /transactions/kafka_partition int32  (-1 for produce)
 *   /transactions/kafka_offset int64  (-1 for produce)
 *   /transactions/kafka_ts_ms  int64  broker timestamp (produce: data_horario in ms)
 *   /transactions/batch_id     int64  micro-batch that decided it (produce: 0)
 *   /results/status            uint8  0 aprovada, 1 rejeitada, 2 nao_processada,
 *                                     255 not decided (produce)
 *   /results/reason            uint8  enum txn_reason (attribute names)
 *   /results/t5, t6, t7        float64 risk factors, NaN when not scored
 *
 * Invariants:
 *   1. A file at its final name is complete: the writer fills PATH.partial,
 *      flushes and fsyncs it, then renames it over PATH (or the final name
 *      given at close) and fsyncs the directory (h5archive_close, through
 *      h5util_publish). Failure or h5archive_abort removes the .partial and
 *      leaves PATH as it was.
 *   2. Row order is append order; nothing in the file depends on how many
 *      ranks read it.
 *   3. Readers check the whole layout at open (kind, version, every dataset's
 *      type, shape and length) and the value ranges of the enum columns at
 *      read, so a bad file fails with one line naming the file and the dataset,
 *      never half-way through a replay with garbage.
 *
 * Errors come back in errstr as one line naming the file and the dataset or
 * attribute at fault; nothing here prints. HDF5's automatic error printing is
 * switched off (H5Eset_auto2) by every entry point. */
#ifndef BS_H5ARCHIVE_H
#define BS_H5ARCHIVE_H

#include "base/txn.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define H5ARCHIVE_FORMAT_VERSION 1
#define H5ARCHIVE_KIND           "bankstream transaction archive"
#define H5ARCHIVE_TOPIC_MAX      256
#define H5ARCHIVE_SOURCE_MAX     16

/* The root attributes of an open archive. */
typedef struct h5archive_info {
    int format_version;
    char source[H5ARCHIVE_SOURCE_MAX]; /* "stream", "produce" or "replay" */
    char topic[H5ARCHIVE_TOPIC_MAX];
    int64_t created_us;     /* µs since 1970-01-01 UTC */
    int64_t first_batch_id; /* -1: none (produce, or no rows) */
    int64_t last_batch_id;  /* -1: none */
    int have_seed;          /* seed present (source "produce") */
    uint64_t seed;
    int64_t n_rows;
    int64_t chunk_rows; /* rows per chunk of every dataset */
} h5archive_info_t;

typedef struct h5archive_writer h5archive_writer_t;
typedef struct h5archive_reader h5archive_reader_t;

/* ---- writer: one process, serial HDF5 (default driver); rank 0 only ---- */

/* Create PATH.partial (truncating a stale one) with the layout above and no
 * rows. source is "stream", "produce" or "replay"; seed is recorded for
 * "produce" only, first/last_batch_id are tracked for the other two.
 * Returns the writer (owns the open file) or NULL with errstr filled; nothing
 * is left on disk then. */
h5archive_writer_t *h5archive_create(const char *path, const char *source, const char *topic,
                                     uint64_t seed, char *errstr, size_t errsize);

/* Append rows[0..n): buffered, written a whole chunk at a time (the datasets
 * grow with H5Dset_extent). Every row is checked first (region < 27, modality
 * < 4, status in {0,1,2,255}, reason < REASON_COUNT): a bad row appends
 * nothing. Returns 0, or -1 with errstr; after a write failure the writer is
 * only good for h5archive_abort. */
int h5archive_append(h5archive_writer_t *w, const txn_record_t *rows, size_t n, char *errstr,
                     size_t errsize);

/* Rows appended so far. */
int64_t h5archive_writer_rows(const h5archive_writer_t *w);

/* Write the buffered rows, set n_rows and the batch-id attributes, close,
 * fsync, rename PATH.partial to final_path (NULL: PATH, the path given to
 * h5archive_create) in one step, fsync its directory (which must be
 * PATH's file system); frees w (NULL is a no-op returning 0). Returns 0, or
 * -1 with errstr; on failure the .partial is removed and the final name is
 * untouched (unless only the directory's fsync failed, after the rename). */
int h5archive_close(h5archive_writer_t *w, const char *final_path, char *errstr, size_t errsize);

/* Close and delete PATH.partial, free w; PATH is untouched. NULL-safe. */
void h5archive_abort(h5archive_writer_t *w);

/* ---- reader: collective over comm with MPI-IO, or one process ---------- */

/* Open PATH for reading. With a communicator of more than one rank the call
 * is collective: rank 0 first checks the file serially, then every rank
 * opens it with MPI-IO (independent transfers); with one rank
 * (MPI_COMM_SELF) it uses the default driver. Checks kind, format_version (a newer one fails with
 * "format version V of PATH is newer than this bankstream supports (1)"), and every dataset's
 * presence ("PATH: dataset /transactions/amount_cents is missing"), type, shape and length. Returns
 * the reader, or NULL on every rank with the same errstr. MPI must be initialized. */
h5archive_reader_t *h5archive_open(MPI_Comm comm, const char *path, char *errstr, size_t errsize);

/* The same, except that every rank opens the file serially (the default
 * driver, its own handle) once rank 0 has checked it: reads are then local
 * to the calling rank, make no MPI call (so they may run on a thread of
 * their own while another thread uses MPI: replay), and fail on the calling
 * rank only, which must make the others agree. Closing is local too. */
h5archive_reader_t *h5archive_open_local(MPI_Comm comm, const char *path, char *errstr,
                                         size_t errsize);

int64_t h5archive_rows(const h5archive_reader_t *r);

/* The root attributes (valid while r is open). */
const h5archive_info_t *h5archive_info(const h5archive_reader_t *r);

/* Read rows [first, first + count) of every column into rows[0..count).
 * Collective when opened on more than one rank (by h5archive_open): every rank calls it, each
 * with its own range (count may be 0). Values outside the enums (region,
 * modality, status, reason) fail naming the dataset and the row. Returns 0,
 * or -1 (on every rank, same errstr) when a range is outside the file or
 * the read failed; rows[] is then unspecified. Rows come a chunk (65536)
 * at a time off the file whatever count is; callers streaming a whole archive
 * should read batch-sized slices (e.g. 65536 rows, 9 MB of rows) rather than
 * millions at once: buffers far beyond the cache measured 40% more CPU. */
int h5archive_read(h5archive_reader_t *r, int64_t first, int64_t count, txn_record_t *rows,
                   char *errstr, size_t errsize);

/* Destinations for h5archive_read_columns: cell i of each non-NULL array
 * receives row first+i; a NULL column is not read at all (replay reads only
 * the columns its rules need). */
typedef struct h5archive_columns {
    uint8_t (*id)[16];
    uint8_t (*payer)[16];
    uint8_t (*receiver)[16];
    int64_t *time_us;
    int64_t *amount_cents;
    uint8_t *region;
    uint8_t *modality;
    int32_t *kafka_partition;
    int64_t *kafka_offset;
    int64_t *kafka_ts_ms;
    int64_t *batch_id;
    uint8_t *status;
    uint8_t *reason;
    double *t5, *t6, *t7;
} h5archive_columns_t;

/* Read rows [first, first + count) of the requested columns straight into
 * the caller's arrays (one H5Dread per column, no row transposition). Same
 * contract as h5archive_read otherwise: collective when opened on more than
 * one rank, enum columns checked, -1 on every rank with the same errstr. */
int h5archive_read_columns(h5archive_reader_t *r, int64_t first, int64_t count,
                           const h5archive_columns_t *cols, char *errstr, size_t errsize);

/* Close (collective when opened on more than one rank). NULL-safe. */
void h5archive_close_reader(h5archive_reader_t *r);

#endif
