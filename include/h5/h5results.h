/* h5results.h - the results file of `bankstream replay --out FILE.h5`: one
 * row per replayed transaction with the replay's decision, written in
 * parallel by every rank straight from its own slice of rows.
 *
 * File layout, format_version 1 (h5dump and h5py read it; every dataset
 * carries `units` and `meaning` attributes). Every dataset is 1-D of length
 * n_rows (the ids [n_rows][16]), contiguous, unfiltered, its space allocated
 * when the file is created; row i is row i of the input archives
 * concatenated in the order given. Group and dataset names are those of the
 * transaction archive (h5archive.h) where the column is the same, so
 * `h5dump -d /results/status` works on either file:
 *   /                    attributes format_version (int32 = 1), kind
 *                        ("bankstream replay results"), created_unix_us
 *                        (int64), created_iso (UTC), n_rows (int64), inputs
 *                        (the archive paths, one per line, as given),
 *                        batch_size (int64; 0 = the archives' own batch_id),
 *                        rules (one line describing the rules used)
 *   /transactions/id     uint8[n][16]  id_transacao of the input row
 *   /results/batch_id    int64   batch the replay decided the row in
 *   /results/status      uint8   0 aprovada, 1 rejeitada, 2 nao_processada
 *                                (attribute names)
 *   /results/reason      uint8   enum txn_reason (attribute names, 0 = none)
 *   /results/t5, t6, t7  float64 risk factors, NaN when not scored
 *
 * Invariants:
 *   1. A file at its final name is complete: the writers fill PATH.partial,
 *      rank 0 fsyncs it, renames it over PATH and fsyncs the directory
 *      (h5results_close). Failure or h5results_abort removes the .partial and
 *      leaves PATH as it was.
 *   2. Nothing in the file depends on how many ranks wrote it.
 *   3. Every function is collective over the writer's communicator and
 *      returns the same code and message on every rank.
 *
 * Errors come back in errstr as one line naming the file (and the dataset at
 * fault); nothing here prints. HDF5's automatic error printing is switched
 * off (H5Eset_auto2) by every entry point. MPI must be initialized. */
#ifndef BS_H5RESULTS_H
#define BS_H5RESULTS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define H5RESULTS_FORMAT_VERSION 1
#define H5RESULTS_KIND           "bankstream replay results"

/* What the root attributes record about the run. */
typedef struct h5results_meta {
    const char *const *inputs; /* the archives replayed, in order */
    int ninputs;
    int64_t batch_size; /* 0: the archives' own batches */
    const char *rules;  /* one line describing the rules used, e.g. "limit_percent=50 ..." */
} h5results_meta_t;

/* One rank's rows for h5results_write: cell i of each array is row first+i. */
typedef struct h5results_columns {
    const uint8_t (*id)[16];    /* id_transacao of the input row */
    const int64_t *batch_id;    /* batch the replay decided the row in */
    const uint8_t *status;      /* 0 aprovada, 1 rejeitada, 2 nao_processada */
    const uint8_t *reason;      /* enum txn_reason (rules.h), 0 = none */
    const double *t5, *t6, *t7; /* NaN when not scored */
} h5results_columns_t;

typedef struct h5results_writer h5results_writer_t;

/* Collective over comm: create PATH.partial (replacing a stale one) holding n_rows rows. With one
 * rank use the default (sec2) driver, with more MPI-IO. Returns the writer on every rank, or NULL
 * on every rank with the same errstr ("PATH: cannot create ...: reason"); nothing is left on disk
 * then. The root attributes are taken from rank 0's meta (the other ranks' meta is not read); path
 * and n_rows must be the same on every rank. The writer keeps comm (not a duplicate): it must stay
 * valid until h5results_close or h5results_abort. */
h5results_writer_t *h5results_create(MPI_Comm comm, const char *path, int64_t n_rows,
                                     const h5results_meta_t *meta, char *errstr, size_t errsize);

/* Collective: every rank writes its rows [first, first + count) (count may be 0; ranges of
 * different ranks never overlap). Returns 0, or -1 on every rank with the same errstr
 * (range outside the file, write failure); the writer is then only good for h5results_abort.
 * A status > 2 or reason >= REASON_COUNT also fails (naming the dataset and row), before the
 * rank at fault writes anything. */
int h5results_write(h5results_writer_t *w, int64_t first, int64_t count,
                    const h5results_columns_t *cols, char *errstr, size_t errsize);

/* h5results_write without the agreement: this rank's rows only, failing on
 * this rank only (its caller makes the ranks agree; the writer is then only
 * good for h5results_abort). When h5results_local_writes says so (the
 * datasets' places in the file are known and their types are the host's:
 * always on little-endian hosts), the rows go to the file with pwrite and
 * the call makes no MPI and no HDF5 call: it may then run on a thread of its
 * own while another thread uses MPI or HDF5 (replay). Otherwise it writes
 * through HDF5 (MPI-IO with more than one rank). */
int h5results_write_local(h5results_writer_t *w, int64_t first, int64_t count,
                          const h5results_columns_t *cols, char *errstr, size_t errsize);
int h5results_local_writes(const h5results_writer_t *w);

/* Collective: close, flush the data to disk (fsync), rename PATH.partial to PATH, fsync the
 * directory; frees w. Returns 0, or -1 on every rank with errstr (the .partial is then removed and
 * PATH untouched; except when only the directory's fsync failed, after the rename). Rows that no
 * call wrote are not filled: they read as zeros. */
int h5results_close(h5results_writer_t *w, char *errstr, size_t errsize);

/* Collective: close and delete PATH.partial, free w. NULL-safe (all ranks pass NULL or none). */
void h5results_abort(h5results_writer_t *w);

#endif
