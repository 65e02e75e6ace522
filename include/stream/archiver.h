/* archiver.h - the stream's transaction archives: every decided transaction
 * with its result, one columnar HDF5 file per snapshot interval
 * (DIR/archive-<first batch>-<last batch>.h5, see h5/h5archive.h).
 *
 * One interface, two archivers: HDF5 (when the run has a snapshot
 * directory and a sink) and none. Called on the main thread only (HDF5 is
 * not thread-safe here). An interval's file is written while its batches
 * are committed and published (one rename and a directory fsync) only at a
 * snapshot barrier, once all of them are committed; the archives it
 * supersedes (same first batch, fewer batches: left by a crash between an
 * archive and its snapshot) are then removed, so that the archives of a
 * directory never overlap. A failure is reported
 * once and archiving stops for the rest of the run: the tables are the
 * record, the archive a copy for replays. */
#ifndef BS_ARCHIVER_H
#define BS_ARCHIVER_H

#include "base/txn.h"
#include "stream/batch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct archiver archiver_t;

struct archiver {
    /* DECIDED -> ARCHIVED: append the batch's transactions, in the order
     * they were decided. */
    void (*append_batch)(archiver_t *a, batch_t *b);
    /* Append records of committed batches (rebuilding an interval a crash
     * cut short), in batch order; an interval opened here starts at batch
     * `first`. 0, or -1 when archiving has stopped. */
    int (*append)(archiver_t *a, int64_t first, const txn_record_t *recs, size_t n);
    /* At a snapshot barrier: publish the open interval, if any. */
    void (*publish)(archiver_t *a);
    /* Drop the unpublished interval (its partial file) and free. */
    void (*close)(archiver_t *a);
};

/* The archiver that keeps nothing (a static object). */
archiver_t *archiver_none(void);

/* Archives of `topic` under dir (created when first needed). NULL when out
 * of memory. */
archiver_t *archiver_h5_open(const char *dir, const char *topic);

/* a->close(a) when a is not NULL. */
void archiver_close(archiver_t *a);

#endif
