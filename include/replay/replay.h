/* replay.h - batch mode: the stream's engine over HDF5 transaction archives.
 *
 * Every rank is a worker (cluster_init with rank0_works). Window after
 * window, every rank reads a contiguous slice of rows (only the columns the
 * rules need), sends each transaction to its payer's owner (MPI
 * all-to-all), the owners decide batch after batch with the stream's own
 * decision loop and wire records (engine/worker.h), the results go back to
 * the rank that read the row, and every rank hands its slice, in row order,
 * to the output (replay_out.h). While a window is
 * decided, the next one is read and the results of the one before are
 * written: with one rank on a second thread, which needs
 * MPI_THREAD_SERIALIZED from MPI_Init_thread (without it, and with more
 * ranks, before the window is decided, in the same order on every rank).
 *
 * Batches never span two archives. With batch_size K > 0, rows [i*K, (i+1)*K)
 * of each archive form a batch, numbered 0, 1, ... over the archives in order;
 * with K = 0 the archive's own batch_id column is used (it must ascend), so
 * that replaying a stream's archive reproduces the stream's batches (and,
 * from the snapshot that precedes it, the stream's results exactly). Rows are
 * never deduplicated here: an archive holds each decided transaction once. */
#ifndef BS_REPLAY_H
#define BS_REPLAY_H

#include "cluster/cluster.h"
#include "h5/h5archive.h"

#include <stddef.h>
#include <stdint.h>

/* The decided rows one rank hands to the output: cell i of each array is
 * row first + i of the replay (the archives concatenated in order). */
typedef struct replay_rows {
    int64_t first;
    size_t n;
    const uint8_t (*id)[16];    /* id_transacao */
    const int64_t *batch_id;    /* the batch that decided the row */
    const uint8_t *status;      /* enum txn_status */
    const uint8_t *reason;      /* enum txn_reason */
    const double *t5, *t6, *t7; /* NaN when not scored */
} replay_rows_t;

/* Where the results go (replay_out.h). write and close are collective over
 * the world; ok = 0 at close discards everything written. write_local, when
 * not NULL, writes this rank's rows without any MPI or HDF5 call and fails
 * on this rank only: replay calls it on its I/O thread (at any number of
 * ranks) and makes the ranks agree. Without it, write is called on the I/O
 * thread with one rank, on the main thread with more. */
typedef struct replay_out {
    void *state;
    int (*write)(void *state, const replay_rows_t *rows, char *errstr, size_t errsize);
    int (*write_local)(void *state, const replay_rows_t *rows, char *errstr, size_t errsize);
    int (*close)(void *state, int ok, char *errstr, size_t errsize);
} replay_out_t;

typedef struct replay_stats {
    int64_t rows, batches;
    int64_t by_status[STATUS_COUNT];
    double seconds; /* from the first read to the last write */
    /* where rank 0's seconds went: routing + deciding + returning the
     * results, and waiting for the I/O (reading its slices and handing the
     * results to the output, and waiting for the other ranks in both) */
    double decide_seconds, io_wait_seconds;
    /* the I/O's own time: io_wait_seconds is less when it ran on a second
     * thread (io_threaded: one rank) while deciding */
    double read_seconds, write_seconds;
    int io_threaded;
    /* how rows met their payers' owners: "none, one rank", "shared memory,
     * one node" or "all-to-all" (printed by `replay`, checked by the tests) */
    const char *routing;
} replay_stats_t;

typedef struct replay replay_t;

/* Collective over c->world: open and check every archive (so that a bad one
 * fails before anything is loaded or written), and their batch ranges
 * (REPLAY_ALLOW_* loosen that). batch_size 0 means the
 * archives' own batches; an archive written by produce has none, and is then
 * replayed in batches of 10000 rows. Returns the replay, or NULL on every
 * rank with errstr naming the file (and dataset). */
/* What replay_open lets through among a stream's archives (whose batch
 * ranges are known): by default they must follow each other, batch after
 * batch, without overlap or gap, in the order given. */
#define REPLAY_ALLOW_GAPS    1u /* batches missing between two archives */
#define REPLAY_ALLOW_OVERLAP 2u /* an archive repeating batches of the one before */

replay_t *replay_open(cluster_t *c, char *const *archives, int narchives, int64_t batch_size,
                      unsigned allow, char *errstr, size_t errsize);

/* Rows over all the archives. */
int64_t replay_total_rows(const replay_t *r);

/* Batch size in use (0: the archives' own batches). */
int64_t replay_batch_size(const replay_t *r);

/* Collective: replay every archive into out. Returns 0 with stats (totals on
 * rank 0), or -1 with errstr on all ranks. */
int replay_run(replay_t *r, const replay_out_t *out, replay_stats_t *stats, char *errstr,
               size_t errsize);

/* Collective. NULL-safe. */
void replay_close(replay_t *r);

#endif
