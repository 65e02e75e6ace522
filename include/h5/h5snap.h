/* h5snap.h - HDF5 snapshots of the users' state, written and read by any
 * number of ranks (parallel HDF5 over MPI-IO).
 *
 * File: DIR/snap-<batch, 12 digits>.h5, one per snapshot. Layout (h5dump and
 * h5py read it; every dataset and attribute carries `units`/`meaning`):
 *   /                      attributes format_version (int32 = 1), batch_id,
 *                          created_unix_us, created_iso, topic, origin, n_users,
 *                          total_balance_cents, checksum (uint64),
 *                          writer_ranks (informational only)
 *   /kafka/end_offsets     int64[nparts]: next offset to read per partition
 *   /users/id              uint8[n][16]   UUID bytes
 *   /users/balance_cents   int64[n]
 *   /users/limit_cents     int64[n][4]    PIX, TED, DOC, Boleto
 *   /users/region          uint8[n]       index into the 27 UF codes
 *   /users/last_approved_us int64[n]      INT64_MIN = none
 * Nothing in it depends on the number of ranks that wrote it: users are rows
 * in no particular order, and the checksum is an order-independent sum.
 *
 * Invariants:
 *   1. A file named snap-*.h5 is complete: writers fill DIR/.snap-<batch>.h5.partial,
 *      sync it, and only then rename it (atomic publish) and sync DIR
 *      (h5util_publish).
 *   2. checksum = H(header) + sum over users of H(user), mod 2^64 (see h5snap.c),
 *      so every reader recomputes it whatever the number of ranks.
 *   3. Every collective function returns the same code and message on all ranks.
 *
 * Errors come back in errstr as one line that names the file and the dataset
 * or attribute at fault; nothing here prints. HDF5's own error printing is
 * switched off (H5Eset_auto2) by every entry point. */
#ifndef BS_H5SNAP_H
#define BS_H5SNAP_H

#include "engine/shard.h"
#include "engine/user.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define H5SNAP_FORMAT_VERSION 1
#define H5SNAP_MAX_PARTS      1024
#define H5SNAP_TOPIC_MAX      256
#define H5SNAP_DEFAULT_DIR    "var/snapshots"

typedef struct h5snap_meta {
    int64_t batch_id;   /* last batch whose effects the state includes */
    int64_t created_us; /* µs since 1970-01-01 UTC; 0 on write = now */
    int format_version; /* read: as stored; ignored on write */
    char topic[H5SNAP_TOPIC_MAX];
    /* Whose state this is: free text identifying the database (and its
     * reference data) so that a restore can refuse another database's
     * snapshot of the same topic and batch; "" = unknown. */
    char origin[H5SNAP_TOPIC_MAX];
    int nparts;                            /* 0..H5SNAP_MAX_PARTS */
    int64_t end_offsets[H5SNAP_MAX_PARTS]; /* next offset to read, index = partition */
    int64_t n_users;                       /* read only: computed on write */
    int64_t total_balance_cents;           /* read only: computed on write */
    uint64_t checksum;                     /* read only: computed on write */
    int writer_ranks;                      /* read only: ranks that wrote the file */
} h5snap_meta_t;

/* Collective over comm (every rank of the job, including ranks holding no
 * users). Rank r writes users[0..n) as one contiguous slab of rows (offsets by
 * MPI_Exscan) into DIR/.snap-<batch>.h5.partial with collective MPI-IO; then
 * rank 0 syncs it, renames it to DIR/snap-<batch %012d>.h5 (replacing one of
 * the same batch) and syncs DIR. DIR is created if missing. batch_id,
 * created_us, topic, origin, nparts and end_offsets are taken from rank 0's meta.
 * Returns 0 on all ranks, or -1 on all ranks with the same errstr; after a
 * failure no snap-*.h5 file was created or changed and the .partial is removed.
 * After a success, .partial files left in DIR by interrupted writes are removed. */
int h5snap_write(MPI_Comm comm, const char *dir, const h5snap_meta_t *meta,
                 const user_state_t *users, size_t n, char *errstr, size_t errsize);

/* h5snap_write with this rank's users taken from a shard (no copy needed). */
int h5snap_write_shard(MPI_Comm comm, const char *dir, const h5snap_meta_t *meta,
                       const shard_t *shard, char *errstr, size_t errsize);

/* Collective: open FILE (written by any number of ranks), check its format,
 * read its meta (every rank gets it) and this rank's share of the users: rank
 * r of size gets rows [r*n/size, (r+1)*n/size), in file order, which the
 * caller re-routes to their owners (their pad bytes are 0, as shard_put
 * expects). The checksum and the total balance are
 * verified over all ranks' shares. Returns 0 with *users malloc'd (free it;
 * non-NULL even when *n is 0), or -1 on all ranks with errstr naming the file
 * and the dataset at fault, *users NULL and *n 0. */
int h5snap_read(MPI_Comm comm, const char *file, h5snap_meta_t *meta, user_state_t **users,
                size_t *n, char *errstr, size_t errsize);

/* Called for each snapshot h5snap_read_newest skips, with a one-line reason
 * naming the file. */
typedef void (*h5snap_warn_fn)(void *arg, const char *message);

/* Asked by h5snap_read_newest, on rank 0 only, about each candidate that
 * reads back (meta checked, not yet its users), newest first: whether to
 * restore from `path` with `meta`. Returns 1 to use it, 0 to skip it (a
 * non-empty `why` is passed to warn; empty: skipped silently), or -1 to fail
 * the whole search with `why` as errstr. */
typedef int (*h5snap_accept_fn)(void *arg, const char *path, const h5snap_meta_t *meta, char *why,
                                size_t whysize);

/* Collective: restore from the newest usable snapshot in DIR. Rank 0 goes
 * through DIR's published snapshots newest first: one whose meta fails to
 * read (foreign, newer format, damaged) is skipped, as is one `accept`
 * (NULL: take any) refuses; the one taken is read by every rank
 * (h5snap_read), and one that fails there (checksums) is skipped for an
 * older one too. Each skip is warned about on rank 0 (warn may be NULL).
 * dir, accept and warn are used on rank 0 only: the other ranks may pass
 * NULL for them (a worker need not know the coordinator's predicate).
 * Returns 0 with meta, *users, *n as h5snap_read and the chosen path in
 * path[pathsize] (path may be NULL); 1 when DIR holds no usable snapshot
 * (missing DIR included), *users NULL and meta zeroed; -1 on all ranks with
 * the same errstr when accept failed, DIR is unreadable, out of memory or
 * MPI failed. */
int h5snap_read_newest(MPI_Comm comm, const char *dir, h5snap_accept_fn accept, void *accept_arg,
                       h5snap_meta_t *meta, user_state_t **users, size_t *n, char *path,
                       size_t pathsize, h5snap_warn_fn warn, void *warn_arg, char *errstr,
                       size_t errsize);

/* Not collective: DIR's published snapshots (snap-<digits>.h5; .partial files
 * and other names are ignored), newest batch first. Returns 0 with *paths a
 * malloc'd array of *n malloc'd "DIR/name" strings (free with
 * h5snap_list_free; NULL when *n is 0), or -1 with errstr (DIR unreadable). */
int h5snap_list(const char *dir, char ***paths, int *n, char *errstr, size_t errsize);
void h5snap_list_free(char **paths, int n);

/* Not collective (call it on one rank): delete all but the `keep` (>= 1)
 * newest published snapshots of DIR. Returns 0 with *removed (may be NULL)
 * the number deleted, or -1 with errstr (DIR unreadable, a file that could
 * not be removed: the older ones are then left too). */
int h5snap_prune(const char *dir, int keep, int *removed, char *errstr, size_t errsize);

/* Not collective: read FILE's meta, checking its format and layout; when
 * verify, also read every user and check the checksum, total and regions.
 * Returns 0, or -1 with errstr naming the file and the dataset or attribute
 * (meta then holds what was read before the failure). */
int h5snap_read_meta(const char *file, int verify, h5snap_meta_t *meta, char *errstr,
                     size_t errsize);

/* The published path of batch's snapshot in DIR. Returns snprintf's value. */
int h5snap_path(const char *dir, int64_t batch, char *buf, size_t size);

#endif
