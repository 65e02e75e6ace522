/* replay.h - batch mode: the stream's engine over HDF5 transaction archives.
 *
 * Every rank reads a contiguous slice (hyperslab) of each window of rows, sends
 * each transaction to its payer's owner (MPI all-to-all), the workers decide
 * batch after batch exactly as the stream does (worker_decide), and rank 0
 * gathers the rows with their new results and hands them to an output.
 *
 * Batches: with batch_size K > 0, rows [i*K, (i+1)*K) of the concatenated
 * archives form batch i; with K = 0 the archive's own batch_id column is used,
 * so that replaying a stream's archive reproduces the stream's batches (and,
 * from the snapshot that precedes it, the stream's results exactly). A batch
 * may straddle a window: its rows wait on their worker until the window that
 * completes it. Rows are never deduplicated here: an archive holds each
 * decided transaction once. */
#ifndef BS_REPLAY_H
#define BS_REPLAY_H

#include "engine.h"
#include "h5archive.h"

#include <stddef.h>
#include <stdint.h>

/* Where rank 0 puts the replayed rows (in row order). */
typedef struct replay_out {
    void *state;
    int (*write)(void *state, const h5archive_row_t *rows, size_t n, char *errstr, size_t errsize);
    /* ok = 0: discard everything written (nothing must remain). */
    int (*close)(void *state, int ok, char *errstr, size_t errsize);
} replay_out_t;

typedef struct replay_stats {
    int64_t rows, batches;
    int64_t by_status[3];
    double seconds;
} replay_stats_t;

/* Collective over e->world. archives[0..n) are opened in order (all of them
 * first, so that a bad one fails before anything is written). out is used on
 * rank 0 only. Returns 0 with stats (rank 0), or -1 with errstr on all ranks. */
int replay_run(engine_t *e, char *const *archives, int narchives, int64_t batch_size,
               const replay_out_t *out, replay_stats_t *stats, char *errstr, size_t errsize);

#endif
