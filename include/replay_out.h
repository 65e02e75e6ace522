/* replay_out.h - where `bankstream replay` puts its results (rank 0 only).
 *
 *   postgres  a new replay_id in replay_runs and its rows in
 *             replay_resultados, in one transaction (the stream's tables are
 *             never touched); a failed replay leaves nothing behind.
 *   FILE.h5   an archive (h5archive.h) of source "replay": the replayed rows
 *             with their new results, published by rename when complete. */
#ifndef BS_REPLAY_OUT_H
#define BS_REPLAY_OUT_H

#include "replay.h"

#include <stddef.h>

/* Open an output; returns 0 with *out ready, or -1 with errstr. */
int replay_out_postgres(replay_out_t *out, const char *conninfo, const char *description,
                        char *errstr, size_t errsize);
int replay_out_hdf5(replay_out_t *out, const char *path, char *errstr, size_t errsize);

/* The replay_id of a postgres output (ask before close; valid once the close
 * commits), else 0. */
long long replay_out_postgres_id(const replay_out_t *out);

#endif
