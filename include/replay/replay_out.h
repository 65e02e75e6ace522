/* replay_out.h - where `bankstream replay` puts its results. Opening,
 * writing and closing are collective over the communicator given.
 *
 *   postgres  a new replay_id in replay_runs and its rows in
 *             replay_resultados, in one transaction (the stream's tables are
 *             never touched): rank 0 gathers each window's rows, in row
 *             order, and COPYs them; a failed replay leaves nothing behind.
 *   FILE.h5   a results file (h5results.h): every rank writes its own rows
 *             in parallel; published by rename when complete. */
#ifndef BS_REPLAY_OUT_H
#define BS_REPLAY_OUT_H

#include "h5/h5results.h"
#include "replay/replay.h"

#include <mpi.h>
#include <stddef.h>

/* Open an output; returns 0 with *out ready on every rank, or -1 with the
 * same errstr on every rank. conninfo and description are read on rank 0. */
int replay_out_postgres(replay_out_t *out, MPI_Comm comm, const char *conninfo,
                        const char *description, char *errstr, size_t errsize);
int replay_out_hdf5(replay_out_t *out, MPI_Comm comm, const char *path, int64_t n_rows,
                    const h5results_meta_t *meta, char *errstr, size_t errsize);

/* The replay_id of a postgres output on rank 0 (ask before close; valid once
 * the close commits), else 0. */
long long replay_out_postgres_id(const replay_out_t *out);

#endif
