/* h5snap.c - HDF5 snapshots of the users' state (layout and contract in h5snap.h).
 *
 * Design:
 *   1. Columns, not records: each user field is its own dataset, so h5dump and
 *      h5py show plain typed arrays, and a rank's users are one contiguous
 *      hyperslab of rows in every dataset. Rows are written and read in rounds
 *      of at most SNAP_ROUND_ROWS through column buffers, with MPI-IO; every
 *      rank takes part in every round (an empty selection when it has nothing
 *      left), so the calls match whichever the transfer mode. Transfers are
 *      independent by default (snap_transfer): a rank's rows are one
 *      contiguous range of each dataset, so collective buffering has nothing
 *      to merge and only adds rounds of messages between the ranks, which
 *      cost little on one host and a lot across hosts. Measured with
 *      tests/bench/hosts.sh (3,000 users, 3 ranks, medians of 5 on the
 *      2-core VM at load 6-9): collective 0.039 s on one host, 0.705 s on
 *      three namespace hosts (0.132 s with ranks that yield their core);
 *      independent 0.022, 0.252 and 0.094 s. 2,000,000 users on one host
 *      (tests/bench/snapshot.sh): the same within the noise. A site whose
 *      parallel file system prefers collective buffering sets
 *      BANKSTREAM_SNAPSHOT_TRANSFER=collective.
 *   2. Atomic publish: write DIR/.snap-<batch>.h5.partial, H5Fflush (which
 *      MPI_File_sync's every rank's writes), close, then rank 0 publishes it
 *      as DIR/snap-<batch>.h5 (h5util_publish: fsync, rename, fsync DIR).
 *   3. Corruption is caught two ways. HDF5 metadata (superblock, object
 *      headers with their attributes) is written in the 1.8 format, which
 *      checksums it, so damage there fails at open. Raw data is covered by
 *      checksums (below), recomputed by every reader.
 *   4. Agreement: each collective step ends in h5util_agree(), after which all
 *      ranks hold the same status and the lowest failing rank's message, so
 *      every rank takes the same path, including the collective close.
 *   5. Collective reads are preceded by a serial check of the file on rank 0
 *      (h5snap_read_meta), so a damaged or foreign file fails there and never
 *      half-way through a collective HDF5 call.
 *
 * Checksums (all sums are mod 2^64; fmix = MurmurHash3's 64-bit finalizer;
 * H(seed; w1..wk) = chained h = fmix(h ^ wi) from h = seed; words are the
 * values as 64-bit integers, the 16 id bytes as two little-endian words):
 *   per row of /users/<col>:  h_col = H(SNAP_SEED_COL * (col + 1); the row's words)
 *   attribute checksum of /users/<col>      = sum over rows of h_col
 *   per user:  h_user = fmix(h_id ^ rotl(h_balance, 13) ^ rotl(h_limit, 26)
 *                            ^ rotl(h_region, 39) ^ rotl(h_last, 52))
 *   attribute checksum of /kafka/end_offsets = H(SNAP_SEED_OFFSETS; offsets)
 *   root checksum = H(SNAP_SEED_HEADER; batch_id, n_users, total_balance_cents,
 *                     nparts, offsets...) + sum over users of h_user
 * Sums do not depend on the order of the rows, hence not on how many ranks
 * wrote or read them. */
#include "h5/h5snap.h"
#include "h5/h5cols.h"
#include "h5/h5util.h"
#include "base/mkdirs.h"
#include "base/timeparse.h"
#include "base/regions.h"

#include <hdf5.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_ROUND_ROWS   ((size_t)1 << 20)
#define SNAP_ERR_MAX      1024
#define SNAP_KIND         "a bankstream snapshot" /* in attribute errors */
#define SNAP_SEED_COL     0x9e3779b97f4a7c15ULL
#define SNAP_SEED_OFFSETS 0x6b61666b616f6666ULL /* "kafkaoff" */
#define SNAP_SEED_HEADER  0x62736e6170686472ULL /* "bsnaphdr" */

/* ---- the columns ---------------------------------------------------------- */

enum { COL_ID, COL_BALANCE, COL_LIMIT, COL_REGION, COL_LAST, COL_COUNT };

/* A round of users as columns (the table's `at`). */
typedef struct snap_cols {
    uint8_t (*id)[16];
    int64_t *balance;
    int64_t (*limit)[MOD_COUNT];
    uint8_t *region;
    int64_t *last;
} snap_cols_t;

static const h5cols_def_t snap_user_defs[COL_COUNT] = {
    {"/users/id", H5COLS_U8, 16, 0, 0, "bytes",
     "user UUID (id_usuario), 16 bytes in RFC 4122 order", NULL, H5COLS_NO_EXTRA,
     offsetof(snap_cols_t, id)},
    {"/users/balance_cents", H5COLS_I64, 1, 0, 0, "centavos (BRL / 100)",
     "balance (saldo) after batch batch_id", NULL, H5COLS_NO_EXTRA, offsetof(snap_cols_t, balance)},
    {"/users/limit_cents", H5COLS_I64, MOD_COUNT, 0, 0, "centavos (BRL / 100)",
     "per-transaction limit of each payment modality; columns in the order of attribute "
     "modalities",
     "modalities", H5COLS_MODALITY_NAMES, offsetof(snap_cols_t, limit)},
    {"/users/region", H5COLS_U8, 1, 0, 0, "index",
     "home region (id_regiao): index into the comma-separated attribute codes, 0 = AC", "codes",
     H5COLS_REGION_CODES, offsetof(snap_cols_t, region)},
    {"/users/last_approved_us", H5COLS_I64, 1, 0, 0, "microseconds since 1970-01-01 UTC",
     "data_horario of the user's last approved transaction as payer; "
     "-9223372036854775808 (INT64_MIN, attribute none_value) = none",
     "none_value", H5COLS_INT64_MIN, offsetof(snap_cols_t, last)},
};

static const h5cols_table_t snap_users = {snap_user_defs, COL_COUNT, 0,   0, 0, SNAP_KIND,
                                          "the snapshot", "n_users", "n", 1, 0};

/* /kafka/end_offsets, a table of one column of nparts rows (`at` 0: the
 * caller passes the address of its int64_t pointer). */
static const h5cols_def_t snap_offsets_def[1] = {
    {"/kafka/end_offsets", H5COLS_I64, 1, 0, 0, "offset",
     "next offset to read per partition of the topic (root attribute topic), index = "
     "partition: the batch ends before these",
     NULL, H5COLS_NO_EXTRA, 0},
};

static const h5cols_table_t snap_offsets = {snap_offsets_def, 1,        0,        0, 0, SNAP_KIND,
                                            "the snapshot",   "nparts", "nparts", 1, 0};

/* ---- small helpers ------------------------------------------------------ */

/* The MPI-IO transfer mode of the users' rows (design note 1):
 * $BANKSTREAM_SNAPSHOT_TRANSFER = collective, else independent. */
static H5FD_mpio_xfer_t snap_transfer(void)
{
    const char *v = getenv("BANKSTREAM_SNAPSHOT_TRANSFER");
    return v && strcmp(v, "collective") == 0 ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT;
}

int h5snap_path(const char *dir, int64_t batch, char *buf, size_t size)
{
    return snprintf(buf, size, "%s/snap-%012" PRId64 ".h5", dir, batch);
}

static int snap_partial_path(const char *dir, int64_t batch, char *buf, size_t size)
{
    return snprintf(buf, size, "%s/.snap-%012" PRId64 ".h5.partial", dir, batch);
}

/* ---- checksums ---------------------------------------------------------- */

static inline uint64_t snap_fmix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t snap_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t snap_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t snap_hash_words(uint64_t seed, const uint64_t *w, size_t n)
{
    uint64_t h = seed;
    for (size_t i = 0; i < n; i++)
        h = snap_fmix(h ^ w[i]);
    return h;
}

static uint64_t snap_header_hash(const h5snap_meta_t *m)
{
    uint64_t w[4 + H5SNAP_MAX_PARTS];
    w[0] = (uint64_t)m->batch_id;
    w[1] = (uint64_t)m->n_users;
    w[2] = (uint64_t)m->total_balance_cents;
    w[3] = (uint64_t)m->nparts;
    for (int i = 0; i < m->nparts; i++)
        w[4 + i] = (uint64_t)m->end_offsets[i];
    return snap_hash_words(SNAP_SEED_HEADER, w, 4 + (size_t)m->nparts);
}

static uint64_t snap_offsets_hash(const h5snap_meta_t *m)
{
    uint64_t w[H5SNAP_MAX_PARTS];
    for (int i = 0; i < m->nparts; i++)
        w[i] = (uint64_t)m->end_offsets[i];
    return snap_hash_words(SNAP_SEED_OFFSETS, w, (size_t)m->nparts);
}

/* ---- sums over rows ----------------------------------------------------- */

/* Running sums over rows (mod 2^64): per column, per user (SUM_USERS), the
 * balances (SUM_BALANCE); and the first row with a bad region. */
enum { SUM_USERS = COL_COUNT, SUM_BALANCE, SUM_COUNT };

typedef struct snap_sums {
    uint64_t sum[SUM_COUNT];
    int64_t bad_region_row; /* INT64_MAX = none */
} snap_sums_t;

static void snap_sums_init(snap_sums_t *s)
{
    memset(s, 0, sizeof *s);
    s->bad_region_row = INT64_MAX;
}

/* Add row i of c (global row number `row`) to the sums. */
static void snap_cols_hash(const snap_cols_t *c, size_t i, int64_t row, snap_sums_t *s)
{
    uint64_t w[2] = {snap_le64(c->id[i]), snap_le64(c->id[i] + 8)};
    uint64_t h[COL_COUNT];
    h[COL_ID] = snap_hash_words(SNAP_SEED_COL * (COL_ID + 1), w, 2);
    w[0] = (uint64_t)c->balance[i];
    h[COL_BALANCE] = snap_hash_words(SNAP_SEED_COL * (COL_BALANCE + 1), w, 1);
    uint64_t lw[MOD_COUNT];
    for (int k = 0; k < MOD_COUNT; k++)
        lw[k] = (uint64_t)c->limit[i][k];
    h[COL_LIMIT] = snap_hash_words(SNAP_SEED_COL * (COL_LIMIT + 1), lw, MOD_COUNT);
    w[0] = c->region[i];
    h[COL_REGION] = snap_hash_words(SNAP_SEED_COL * (COL_REGION + 1), w, 1);
    w[0] = (uint64_t)c->last[i];
    h[COL_LAST] = snap_hash_words(SNAP_SEED_COL * (COL_LAST + 1), w, 1);
    for (int k = 0; k < COL_COUNT; k++)
        s->sum[k] += h[k];
    s->sum[SUM_USERS] +=
        snap_fmix(h[COL_ID] ^ snap_rotl(h[COL_BALANCE], 13) ^ snap_rotl(h[COL_LIMIT], 26) ^
                  snap_rotl(h[COL_REGION], 39) ^ snap_rotl(h[COL_LAST], 52));
    s->sum[SUM_BALANCE] += (uint64_t)c->balance[i];
    if (c->region[i] >= REGION_COUNT && row < s->bad_region_row) s->bad_region_row = row;
}

/* Row i of the columns <- user u. */
static void snap_cols_pack(snap_cols_t *c, size_t i, const user_state_t *u)
{
    memcpy(c->id[i], u->id, 16);
    c->balance[i] = u->balance_cents;
    memcpy(c->limit[i], u->limit_cents, sizeof c->limit[i]);
    c->region[i] = u->region;
    c->last[i] = u->last_approved_us;
}

/* User u <- row i of the columns (pad bytes zeroed). */
static void snap_cols_unpack(const snap_cols_t *c, size_t i, user_state_t *u)
{
    memset(u, 0, sizeof *u);
    memcpy(u->id, c->id[i], 16);
    u->balance_cents = c->balance[i];
    memcpy(u->limit_cents, c->limit[i], sizeof u->limit_cents);
    u->region = c->region[i];
    u->last_approved_us = c->last[i];
}

/* ---- the open file ------------------------------------------------------ */

typedef struct snap_file {
    hid_t fid;
    h5cols_set_t users, offsets;
    uint64_t col_checksum[COL_COUNT]; /* as stored */
} snap_file_t;

/* Nothing open; messages name `path` (kept alive by the caller). */
static void snap_file_init(snap_file_t *f, const char *path)
{
    f->fid = H5I_INVALID_HID;
    h5cols_init(&f->users, &snap_users, path);
    h5cols_init(&f->offsets, &snap_offsets, path);
}

/* Close everything; returns -1 when closing the file failed (data not flushed). */
static int snap_file_close(snap_file_t *f)
{
    h5cols_close(&f->users);
    h5cols_close(&f->offsets);
    int rc = f->fid >= 0 && H5Fclose(f->fid) < 0 ? -1 : 0;
    f->fid = H5I_INVALID_HID;
    return rc;
}

/* Check the layout of the open file f->fid and read its meta: format version
 * first (so foreign files and newer formats get their own message), then
 * every attribute and dataset. Leaves the datasets open in f.
 * Returns 0 or -1 with errstr naming path and the object at fault. */
static int snap_file_check(snap_file_t *f, const char *path, h5snap_meta_t *m, char *errstr,
                           size_t errsize)
{
    int64_t v = 0;
    memset(m, 0, sizeof *m);
    htri_t ex = H5Aexists(f->fid, "format_version");
    if (ex == 0) {
        h5util_err(
            errstr, errsize,
            "%s: not a bankstream snapshot: the root attribute format_version is missing "
            "(expected datasets /users/id, /users/balance_cents, ... and /kafka/end_offsets)",
            path);
        return -1;
    }
    if (h5util_attr_read_int(f->fid, path, "/", "format_version", SNAP_KIND, 0, H5T_NATIVE_INT64,
                             &v, errstr, errsize) != 0)
        return -1;
    if (v > H5SNAP_FORMAT_VERSION) {
        h5util_err(errstr, errsize,
                   "%s: format version %" PRId64
                   " is newer than this bankstream supports (%d): use a newer bankstream",
                   path, v, H5SNAP_FORMAT_VERSION);
        return -1;
    }
    if (v < 1) {
        h5util_err(errstr, errsize, "%s: attribute format_version of / is %" PRId64 ", not valid",
                   path, v);
        return -1;
    }
    m->format_version = (int)v;
    if (h5util_attr_read_int(f->fid, path, "/", "batch_id", SNAP_KIND, 0, H5T_NATIVE_INT64,
                             &m->batch_id, errstr, errsize) ||
        h5util_attr_read_int(f->fid, path, "/", "created_unix_us", SNAP_KIND, 0, H5T_NATIVE_INT64,
                             &m->created_us, errstr, errsize) ||
        h5util_attr_read_int(f->fid, path, "/", "n_users", SNAP_KIND, 0, H5T_NATIVE_INT64,
                             &m->n_users, errstr, errsize) ||
        h5util_attr_read_int(f->fid, path, "/", "total_balance_cents", SNAP_KIND, 0,
                             H5T_NATIVE_INT64, &m->total_balance_cents, errstr, errsize) ||
        h5util_attr_read_int(f->fid, path, "/", "checksum", SNAP_KIND, 0, H5T_NATIVE_UINT64,
                             &m->checksum, errstr, errsize) ||
        h5util_attr_read_str(f->fid, path, "/", "topic", SNAP_KIND, m->topic, sizeof m->topic,
                             errstr, errsize))
        return -1;
    if (H5Aexists(f->fid, "origin") > 0 &&
        h5util_attr_read_str(f->fid, path, "/", "origin", SNAP_KIND, m->origin, sizeof m->origin,
                             errstr, errsize) != 0)
        return -1;
    if (H5Aexists(f->fid, "writer_ranks") > 0 &&
        h5util_attr_read_int(f->fid, path, "/", "writer_ranks", SNAP_KIND, 0, H5T_NATIVE_INT64, &v,
                             errstr, errsize) == 0)
        m->writer_ranks = (int)v;
    H5Eclear2(H5E_DEFAULT);
    if (m->n_users < 0) {
        h5util_err(errstr, errsize, "%s: attribute n_users of / is %" PRId64 ", not valid", path,
                   m->n_users);
        return -1;
    }

    for (int g = 0; g < 2; g++) {
        const char *group = g ? "/users" : "/kafka";
        if (H5Lexists(f->fid, group, H5P_DEFAULT) <= 0) {
            h5util_err(errstr, errsize,
                       "%s: group %s is missing: not a bankstream snapshot, or a damaged one", path,
                       group);
            return -1;
        }
    }

    /* /kafka/end_offsets: small, read here and checked against its checksum. */
    uint64_t stored = 0;
    int64_t *offsets = m->end_offsets;
    if (h5cols_open(&f->offsets, f->fid, -1, errstr, errsize)) return -1;
    if (f->offsets.rows > H5SNAP_MAX_PARTS) {
        h5util_err(errstr, errsize,
                   "%s: dataset /kafka/end_offsets has %" PRId64 " partitions, more than the %d "
                   "supported",
                   path, f->offsets.rows, H5SNAP_MAX_PARTS);
        return -1;
    }
    m->nparts = (int)f->offsets.rows;
    if ((m->nparts > 0 &&
         h5cols_io(&f->offsets, 0, H5P_DEFAULT, 0, m->nparts, &offsets, errstr, errsize)) ||
        h5util_attr_read_int(f->offsets.dset[0], path, "/kafka/end_offsets", "checksum", SNAP_KIND,
                             0, H5T_NATIVE_UINT64, &stored, errstr, errsize))
        return -1;
    if (stored != snap_offsets_hash(m)) {
        h5util_err(errstr, errsize,
                   "%s: dataset /kafka/end_offsets fails its checksum (stored 0x%016" PRIx64
                   ", computed 0x%016" PRIx64 "): the snapshot is corrupt",
                   path, stored, snap_offsets_hash(m));
        return -1;
    }

    if (h5cols_open(&f->users, f->fid, m->n_users, errstr, errsize)) return -1;
    for (int c = 0; c < COL_COUNT; c++)
        if (h5util_attr_read_int(f->users.dset[c], path, snap_user_defs[c].path, "checksum",
                                 SNAP_KIND, 0, H5T_NATIVE_UINT64, &f->col_checksum[c], errstr,
                                 errsize))
            return -1;
    return 0;
}

/* Read rows [lo, lo + cnt) in `rounds` rounds (collective when comm is not
 * MPI_COMM_NULL: every rank runs the same number of rounds), adding them to
 * sums and, when out is not NULL, unpacking them into out[0..cnt).
 * Returns 0 or -1 + errstr (the same on all ranks when collective). */
static int snap_rows_scan(MPI_Comm comm, snap_file_t *f, hid_t dxpl, uint64_t lo, size_t cnt,
                          size_t rounds, user_state_t *out, snap_sums_t *sums, const char *path,
                          char *errstr, size_t errsize)
{
    snap_cols_t cols;
    int rc = h5cols_alloc(&snap_users, &cols, cnt < SNAP_ROUND_ROWS ? cnt : SNAP_ROUND_ROWS);
    if (rc) h5util_err(errstr, errsize, "%s: out of memory for reading the users", path);
    if (comm != MPI_COMM_NULL && h5util_agree(comm, rc, "a snapshot step", errstr, errsize))
        rc = -1;
    size_t done = 0;
    for (size_t r = 0; rc == 0 && r < rounds; r++) {
        size_t n = cnt - done < SNAP_ROUND_ROWS ? cnt - done : SNAP_ROUND_ROWS;
        rc =
            h5cols_io(&f->users, 0, dxpl, (int64_t)(lo + done), (int64_t)n, &cols, errstr, errsize);
        if (comm != MPI_COMM_NULL && h5util_agree(comm, rc, "a snapshot step", errstr, errsize))
            rc = -1;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            snap_cols_hash(&cols, i, (int64_t)(lo + done + i), sums);
            if (out) snap_cols_unpack(&cols, i, &out[done + i]);
        }
        done += n;
    }
    h5cols_free(&snap_users, &cols);
    return rc;
}

/* Collective: every rank's sums added up into *all (bad_region_row: the
 * lowest). Returns 0 or -1 with errstr. */
static int snap_sums_allreduce(MPI_Comm comm, const snap_sums_t *mine, snap_sums_t *all,
                               const char *path, char *errstr, size_t errsize)
{
    if (MPI_Allreduce(mine->sum, all->sum, SUM_COUNT, MPI_UINT64_T, MPI_SUM, comm) == MPI_SUCCESS &&
        MPI_Allreduce(&mine->bad_region_row, &all->bad_region_row, 1, MPI_INT64_T, MPI_MIN, comm) ==
            MPI_SUCCESS)
        return 0;
    h5util_err(errstr, errsize, "%s: MPI_Allreduce of the checksums failed", path);
    return -1;
}

/* Compare the sums over all rows with what the file stores. 0 or -1 + errstr. */
static int snap_sums_check(const char *path, const h5snap_meta_t *m, const snap_file_t *f,
                           const snap_sums_t *s, char *errstr, size_t errsize)
{
    for (int c = 0; c < COL_COUNT; c++) {
        if (s->sum[c] != f->col_checksum[c]) {
            h5util_err(errstr, errsize,
                       "%s: dataset %s fails its checksum (stored 0x%016" PRIx64
                       ", computed 0x%016" PRIx64 "): the snapshot is corrupt",
                       path, snap_user_defs[c].path, f->col_checksum[c], s->sum[c]);
            return -1;
        }
    }
    if (s->bad_region_row != INT64_MAX) {
        h5util_err(errstr, errsize,
                   "%s: dataset /users/region row %" PRId64
                   " is not a region index (0..%d): the snapshot is corrupt",
                   path, s->bad_region_row, REGION_COUNT - 1);
        return -1;
    }
    if ((int64_t)s->sum[SUM_BALANCE] != m->total_balance_cents) {
        h5util_err(errstr, errsize,
                   "%s: the sum of dataset /users/balance_cents (%" PRId64
                   ") differs from attribute total_balance_cents (%" PRId64
                   "): the snapshot is corrupt",
                   path, (int64_t)s->sum[SUM_BALANCE], m->total_balance_cents);
        return -1;
    }
    uint64_t want = snap_header_hash(m) + s->sum[SUM_USERS];
    if (want != m->checksum) {
        h5util_err(errstr, errsize,
                   "%s: attribute checksum of / (0x%016" PRIx64
                   ") does not match the users and offsets (0x%016" PRIx64
                   "): the snapshot is corrupt",
                   path, m->checksum, want);
        return -1;
    }
    return 0;
}

/* ---- serial reading ----------------------------------------------------- */

/* Before HDF5 sees the file: a clear errno-based message for missing,
 * unreadable or non-regular files and files without the HDF5 signature. */
int h5snap_read_meta(const char *file, int verify, h5snap_meta_t *meta, char *errstr,
                     size_t errsize)
{
    h5util_quiet();
    memset(meta, 0, sizeof *meta);
    if (h5util_precheck(file, errstr, errsize)) return -1;
    snap_file_t f;
    snap_file_init(&f, file);
    int rc = 0;
    f.fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f.fid < 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot open as HDF5, the file is damaged or truncated: %s",
                   file, h5util_reason(why, sizeof why));
        rc = -1;
    }
    if (rc == 0) rc = snap_file_check(&f, file, meta, errstr, errsize);
    if (rc == 0 && verify) {
        snap_sums_t sums;
        snap_sums_init(&sums);
        size_t n = (size_t)meta->n_users;
        rc = snap_rows_scan(MPI_COMM_NULL, &f, H5P_DEFAULT, 0, n,
                            (n + SNAP_ROUND_ROWS - 1) / SNAP_ROUND_ROWS, NULL, &sums, file, errstr,
                            errsize);
        if (rc == 0) rc = snap_sums_check(file, meta, &f, &sums, errstr, errsize);
    }
    snap_file_close(&f);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* ---- collective reading ------------------------------------------------- */

int h5snap_read(MPI_Comm comm, const char *file, h5snap_meta_t *meta, user_state_t **users,
                size_t *n, char *errstr, size_t errsize)
{
    h5util_quiet();
    *users = NULL;
    *n = 0;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    snap_file_t f;
    snap_file_init(&f, file);
    hid_t fapl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    user_state_t *out = NULL;
    h5snap_meta_t m;
    memset(&m, 0, sizeof m);

    /* Rank 0 checks the layout serially, so a foreign or damaged file fails here. */
    int rc = rank == 0 ? h5snap_read_meta(file, 0, &m, errstr, errsize) : 0;
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
    if (MPI_Bcast(&m, sizeof m, MPI_BYTE, 0, comm) != MPI_SUCCESS) {
        h5util_err(errstr, errsize, "%s: MPI_Bcast of the snapshot meta failed", file);
        goto fail;
    }

    fapl = H5Pcreate(H5P_FILE_ACCESS);
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    rc = (fapl < 0 || dxpl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
          H5Pset_dxpl_mpio(dxpl, snap_transfer()) < 0)
             ? -1
             : 0;
    if (rc == 0) f.fid = H5Fopen(file, H5F_ACC_RDONLY, fapl);
    if (rc || f.fid < 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot open with MPI-IO: %s", file,
                   h5util_reason(why, sizeof why));
        rc = -1;
    }
    if (rc == 0) rc = snap_file_check(&f, file, &m, errstr, errsize);
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;

    /* Rank r's share: rows [r*N/size, (r+1)*N/size). */
    uint64_t total = (uint64_t)m.n_users;
    uint64_t lo = total * (uint64_t)rank / (uint64_t)size;
    uint64_t hi = total * (uint64_t)(rank + 1) / (uint64_t)size;
    size_t cnt = (size_t)(hi - lo), maxcnt = (size_t)((total + size - 1) / size);
    size_t rounds = (maxcnt + SNAP_ROUND_ROWS - 1) / SNAP_ROUND_ROWS;
    out = h5util_big_alloc(cnt * sizeof *out);
    rc = out ? 0 : -1;
    if (rc) h5util_err(errstr, errsize, "%s: out of memory for %zu users", file, cnt);
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;

    snap_sums_t local, all;
    snap_sums_init(&local);
    if (snap_rows_scan(comm, &f, dxpl, lo, cnt, rounds, out, &local, file, errstr, errsize))
        goto fail;
    if (snap_sums_allreduce(comm, &local, &all, file, errstr, errsize) ||
        snap_sums_check(file, &m, &f, &all, errstr, errsize))
        goto fail; /* same on all ranks */

    rc = snap_file_close(&f);
    if (rc) h5util_err(errstr, errsize, "%s: closing the file failed", file);
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
    H5Pclose(fapl);
    H5Pclose(dxpl);
    *meta = m;
    *users = out;
    *n = cnt;
    return 0;

fail:
    snap_file_close(&f);
    if (fapl >= 0) H5Pclose(fapl);
    if (dxpl >= 0) H5Pclose(dxpl);
    free(out);
    H5Eclear2(H5E_DEFAULT);
    return -1;
}

/* ---- writing ------------------------------------------------------------ */

/* Where a rank's users come from: an array or a shard. */
typedef struct snap_src {
    const user_state_t *array;
    size_t n;
    const shard_t *shard;
    size_t pos; /* array index or shard slot */
} snap_src_t;

static size_t snap_src_count(const snap_src_t *s)
{
    return s->shard ? s->shard->count : s->n;
}

static const user_state_t *snap_src_next(snap_src_t *s)
{
    if (s->shard) {
        long i = shard_next(s->shard, &s->pos);
        return i < 0 ? NULL : &s->shard->slots[i];
    }
    return s->pos < s->n ? &s->array[s->pos++] : NULL;
}

/* mkdir -p. 0 or -1 + errstr. */
static int snap_mkdirs(const char *dir, char *errstr, size_t errsize)
{
    if (mkdirs(dir) != 0) {
        h5util_err(errstr, errsize, "cannot create snapshot directory %s: %s", dir,
                   strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        h5util_err(errstr, errsize, "snapshot directory %s: not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        h5util_err(errstr, errsize, "snapshot directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Rank 0, after a publish: remove .partial files left by interrupted writes
 * (one job writes a directory at a time, so any other .partial is garbage).
 * Best effort: errors are ignored. */
static void snap_remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, ".snap-", 6) != 0 || len < 14 ||
            strcmp(de->d_name + len - 11, ".h5.partial") != 0)
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path) unlink(path);
    }
    closedir(d);
}

/* Create the datasets and the groups with their descriptive attributes.
 * Returns 0 or -1 with errstr naming the object. */
static int snap_create_layout(snap_file_t *f, const h5snap_meta_t *m, const char *path,
                              char *errstr, size_t errsize)
{
    if (h5cols_create(&f->offsets, f->fid, m->nparts, errstr, errsize)) return -1;
    const char *failed = "dataset /kafka/end_offsets";
    hid_t users = H5I_INVALID_HID;
    int rc = h5util_attr_u64(f->offsets.dset[0], "checksum", snap_offsets_hash(m));
    if (rc == 0) {
        failed = "group /users";
        users = H5Gcreate2(f->fid, "users", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        rc = users < 0 || h5util_attr_str(users, "meaning",
                                          "one row per user, the same row in every dataset; "
                                          "rows in no particular order")
                 ? -1
                 : 0;
    }
    if (users >= 0) H5Gclose(users);
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize, "%s: creating %s failed: %s", path, failed,
                   h5util_reason(why, sizeof why));
        return -1;
    }
    return h5cols_create(&f->users, f->fid, m->n_users, errstr, errsize);
}

/* The root attributes, once the sums are known. */
static int snap_write_root_attrs(const snap_file_t *f, const h5snap_meta_t *m,
                                 const uint64_t col_sums[COL_COUNT], const char *path, char *errstr,
                                 size_t errsize)
{
    int rc = 0;
    for (int c = 0; rc == 0 && c < COL_COUNT; c++)
        rc = h5util_attr_u64(f->users.dset[c], "checksum", col_sums[c]);
    if (rc == 0)
        rc = h5util_attr_i32(f->fid, "format_version", H5SNAP_FORMAT_VERSION) ||
             h5util_attr_str(f->fid, "meaning",
                             "bankstream state snapshot: every user's state after batch batch_id "
                             "and the Kafka offsets to resume from; restorable on any number of "
                             "ranks") ||
             h5util_attr_i64(f->fid, "batch_id", m->batch_id) ||
             h5util_attr_created(f->fid, m->created_us) ||
             h5util_attr_str(f->fid, "topic", m->topic) ||
             h5util_attr_str(f->fid, "origin", m->origin) ||
             h5util_attr_i64(f->fid, "n_users", m->n_users) ||
             h5util_attr_i64(f->fid, "total_balance_cents", m->total_balance_cents) ||
             h5util_attr_u64(f->fid, "checksum", m->checksum) ||
             h5util_attr_i32(f->fid, "writer_ranks", m->writer_ranks) ||
             h5util_attr_str(f->fid, "units",
                             "created_unix_us: microseconds since 1970-01-01 UTC; "
                             "total_balance_cents: centavos (BRL / 100); batch_id, n_users, "
                             "writer_ranks: counts") ||
             h5util_attr_str(f->fid, "checksum_algorithm",
                             "sum mod 2^64 of a per-user hash plus a header hash, independent of "
                             "row order; each dataset's checksum attribute sums a per-row hash; "
                             "definitions in bankstream src/h5snap.c");
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize, "%s: writing the root attributes failed: %s", path,
                   h5util_reason(why, sizeof why));
    }
    return rc ? -1 : 0;
}

static int snap_write_src(MPI_Comm comm, const char *dir, const h5snap_meta_t *meta,
                          snap_src_t *src, char *errstr, size_t errsize)
{
    h5util_quiet();
    int rank, size, rc = 0, created = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char partial[PATH_MAX] = "", final[PATH_MAX];
    snap_file_t f;
    snap_file_init(&f, partial);
    hid_t fapl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    snap_cols_t cols = {0};
    h5snap_meta_t m;
    memset(&m, 0, sizeof m);

    /* Rank 0's meta is the truth; it checks it and creates DIR. */
    if (rank == 0) {
        m = *meta;
        m.topic[sizeof m.topic - 1] = '\0';
        m.origin[sizeof m.origin - 1] = '\0';
        if (m.created_us == 0) m.created_us = timeparse_now_us();
        if (m.nparts < 0 || m.nparts > H5SNAP_MAX_PARTS || m.batch_id < 0) {
            h5util_err(errstr, errsize,
                       "snapshot of batch %" PRId64 " with %d partitions: batch must be >= 0 and "
                       "partitions 0..%d",
                       m.batch_id, m.nparts, H5SNAP_MAX_PARTS);
            rc = -1;
        }
        if (rc == 0 &&
            (snap_partial_path(dir, m.batch_id, partial, sizeof partial) >= (int)sizeof partial)) {
            h5util_err(errstr, errsize, "%s: path too long", dir);
            rc = -1;
        }
        if (rc == 0) rc = snap_mkdirs(dir, errstr, errsize);
    }
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
    if (MPI_Bcast(&m, sizeof m, MPI_BYTE, 0, comm) != MPI_SUCCESS) {
        h5util_err(errstr, errsize, "MPI_Bcast of the snapshot meta failed");
        goto fail;
    }
    snap_partial_path(dir, m.batch_id, partial, sizeof partial);
    h5snap_path(dir, m.batch_id, final, sizeof final);

    /* Rows: this rank's slab starts after the lower ranks' rows. */
    uint64_t local = snap_src_count(src), first = 0, total = 0, maxlocal = 0;
    if (MPI_Exscan(&local, &first, 1, MPI_UINT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(&local, &total, 1, MPI_UINT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(&local, &maxlocal, 1, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS) {
        h5util_err(errstr, errsize, "%s: MPI_Exscan/Allreduce of the user counts failed", final);
        goto fail;
    }
    if (rank == 0) first = 0;
    m.n_users = (int64_t)total;
    m.writer_ranks = size;
    m.format_version = H5SNAP_FORMAT_VERSION;

    fapl = H5Pcreate(H5P_FILE_ACCESS);
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    rc = (fapl < 0 || dxpl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
          H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
          H5Pset_dxpl_mpio(dxpl, snap_transfer()) < 0)
             ? -1
             : 0;
    if (rc == 0) {
        f.fid = H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        rc = f.fid < 0 ? -1 : 0;
    }
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot create with MPI-IO: %s", partial,
                   h5util_reason(why, sizeof why));
    }
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
    created = 1;
    rc = snap_create_layout(&f, &m, partial, errstr, errsize);
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;

    /* End offsets: rank 0 writes them all, the others take part with nothing.
     * (HDF5 refuses any write to a zero-sized dataset, even an empty one.) */
    int64_t *offsets = m.end_offsets;
    if (m.nparts > 0)
        rc = h5cols_io(&f.offsets, 1, dxpl, 0, rank == 0 ? m.nparts : 0, &offsets, errstr, errsize);
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;

    /* Users, in rounds; every rank joins every round. */
    size_t rounds = (size_t)((maxlocal + SNAP_ROUND_ROWS - 1) / SNAP_ROUND_ROWS);
    size_t cap = local < SNAP_ROUND_ROWS ? (size_t)local : SNAP_ROUND_ROWS;
    rc = h5cols_alloc(&snap_users, &cols, cap);
    if (rc) h5util_err(errstr, errsize, "%s: out of memory for the column buffers", partial);
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
    snap_sums_t sums;
    snap_sums_init(&sums);
    size_t done = 0;
    for (size_t r = 0; r < rounds; r++) {
        size_t n = 0;
        const user_state_t *u;
        while (n < cap && done + n < local && (u = snap_src_next(src)) != NULL) {
            snap_cols_pack(&cols, n, u);
            snap_cols_hash(&cols, n, (int64_t)(first + done + n), &sums);
            n++;
        }
        rc = h5cols_io(&f.users, 1, dxpl, (int64_t)(first + done), (int64_t)n, &cols, errstr,
                       errsize);
        if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
        done += n;
    }
    snap_sums_t all;
    if (snap_sums_allreduce(comm, &sums, &all, partial, errstr, errsize)) goto fail;
    if (all.bad_region_row != INT64_MAX) { /* the same on every rank */
        h5util_err(errstr, errsize, "%s: user row %" PRId64 " has region index >= %d", partial,
                   all.bad_region_row, REGION_COUNT);
        goto fail;
    }
    m.total_balance_cents = (int64_t)all.sum[SUM_BALANCE];
    m.checksum = snap_header_hash(&m) + all.sum[SUM_USERS];
    rc = snap_write_root_attrs(&f, &m, all.sum, partial, errstr, errsize);
    if (rc == 0 && H5Fflush(f.fid, H5F_SCOPE_GLOBAL) < 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: flushing failed: %s", partial,
                   h5util_reason(why, sizeof why));
        rc = -1;
    }
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
    rc = snap_file_close(&f);
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize, "%s: closing failed: %s", partial,
                   h5util_reason(why, sizeof why));
    }
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;

    if (rank == 0) rc = h5util_publish(H5I_INVALID_HID, partial, final, errstr, errsize);
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) goto fail;
    if (rank == 0) snap_remove_stale(dir);
    h5cols_free(&snap_users, &cols);
    H5Pclose(fapl);
    H5Pclose(dxpl);
    return 0;

fail:
    snap_file_close(&f);
    h5cols_free(&snap_users, &cols);
    if (fapl >= 0) H5Pclose(fapl);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (created && rank == 0) unlink(partial);
    H5Eclear2(H5E_DEFAULT);
    return -1;
}

int h5snap_write(MPI_Comm comm, const char *dir, const h5snap_meta_t *meta,
                 const user_state_t *users, size_t n, char *errstr, size_t errsize)
{
    snap_src_t src = {users, n, NULL, 0};
    return snap_write_src(comm, dir, meta, &src, errstr, errsize);
}

int h5snap_write_shard(MPI_Comm comm, const char *dir, const h5snap_meta_t *meta,
                       const shard_t *shard, char *errstr, size_t errsize)
{
    snap_src_t src = {NULL, 0, shard, 0};
    return snap_write_src(comm, dir, meta, &src, errstr, errsize);
}

/* ---- listing and choosing ----------------------------------------------- */

/* The batch of a published snapshot's file name "snap-<digits>.h5", or -1. */
static int64_t snap_name_batch(const char *name)
{
    if (strncmp(name, "snap-", 5) != 0) return -1;
    const char *p = name + 5;
    int64_t b = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 18) return -1;
        b = b * 10 + (*p - '0');
    }
    return digits > 0 && strcmp(p, ".h5") == 0 ? b : -1;
}

static int snap_is_published(const struct dirent *de)
{
    return snap_name_batch(de->d_name) >= 0;
}

/* Newest batch first; the name breaks ties. */
static int snap_newest_first(const struct dirent **a, const struct dirent **b)
{
    int64_t x = snap_name_batch((*a)->d_name), y = snap_name_batch((*b)->d_name);
    return x != y ? (x > y ? -1 : 1) : strcmp((*a)->d_name, (*b)->d_name);
}

void h5snap_list_free(char **paths, int n)
{
    for (int i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

int h5snap_list(const char *dir, char ***paths, int *n, char *errstr, size_t errsize)
{
    struct dirent **names = NULL;
    *paths = NULL;
    *n = 0;
    int count = scandir(dir, &names, snap_is_published, snap_newest_first);
    if (count < 0) {
        h5util_err(errstr, errsize, "%s: %s", dir, strerror(errno));
        return -1;
    }
    char **out = count > 0 ? calloc((size_t)count, sizeof *out) : NULL;
    int rc = count > 0 && out == NULL ? -1 : 0;
    for (int i = 0; i < count; i++) {
        if (rc == 0 && asprintf(&out[i], "%s/%s", dir, names[i]->d_name) < 0) {
            out[i] = NULL;
            rc = -1;
        }
        free(names[i]);
    }
    free(names);
    if (rc) {
        h5snap_list_free(out, count);
        h5util_err(errstr, errsize, "%s: out of memory listing snapshots", dir);
        return -1;
    }
    *paths = out;
    *n = count;
    return 0;
}

int h5snap_prune(const char *dir, int keep, int *removed, char *errstr, size_t errsize)
{
    char **paths = NULL;
    int n = 0, rc = 0;
    if (removed) *removed = 0;
    if (keep < 1) {
        h5util_err(errstr, errsize, "%s: keeping %d snapshots: keep at least 1", dir, keep);
        return -1;
    }
    if (h5snap_list(dir, &paths, &n, errstr, errsize) != 0) return -1;
    for (int i = keep; i < n; i++) {
        if (unlink(paths[i]) != 0) {
            h5util_err(errstr, errsize, "%s: cannot remove: %s", paths[i], strerror(errno));
            rc = -1;
            break;
        }
        if (removed) (*removed)++;
    }
    h5snap_list_free(paths, n);
    return rc;
}

/* Rank 0: from candidate *i of paths[0..count) on, the first whose meta
 * reads and that accept takes, into cand (cand[0] 0 when none is left);
 * skipped ones go to warn. Returns 0, or -1 with errstr when accept failed. */
static int snap_next_candidate(char **paths, int count, int *i, h5snap_accept_fn accept,
                               void *accept_arg, h5snap_warn_fn warn, void *warn_arg, char *cand,
                               size_t candsize, char *errstr, size_t errsize)
{
    cand[0] = '\0';
    for (; *i < count; (*i)++) {
        h5snap_meta_t meta;
        char why[SNAP_ERR_MAX] = "";
        int ok = 1;
        if (h5snap_read_meta(paths[*i], 0, &meta, why, sizeof why) != 0) {
            size_t len = strlen(why);
            snprintf(why + len, sizeof why - len, "; skipped for an older snapshot");
            ok = 0;
        } else if (accept) {
            ok = accept(accept_arg, paths[*i], &meta, why, sizeof why);
        }
        if (ok < 0) {
            h5util_err(errstr, errsize, "%s", why);
            return -1;
        }
        if (ok > 0) {
            snprintf(cand, candsize, "%s", paths[(*i)++]);
            return 0;
        }
        if (warn && why[0]) warn(warn_arg, why);
    }
    return 0;
}

int h5snap_read_newest(MPI_Comm comm, const char *dir, h5snap_accept_fn accept, void *accept_arg,
                       h5snap_meta_t *meta, user_state_t **users, size_t *n, char *path,
                       size_t pathsize, h5snap_warn_fn warn, void *warn_arg, char *errstr,
                       size_t errsize)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    *users = NULL;
    *n = 0;
    memset(meta, 0, sizeof *meta);
    char **paths = NULL;
    int count = 0, next = 0, rc = 0, result = 1;
    if (rank == 0) {
        struct stat st;
        if (stat(dir, &st) != 0 && errno == ENOENT)
            count = 0;
        else
            rc = h5snap_list(dir, &paths, &count, errstr, errsize);
    }
    if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) return -1;

    /* Rank 0 proposes candidates newest first; all ranks read each collectively. */
    for (;;) {
        char cand[PATH_MAX] = "", why[SNAP_ERR_MAX] = "";
        if (rank == 0)
            rc = snap_next_candidate(paths, count, &next, accept, accept_arg, warn, warn_arg, cand,
                                     sizeof cand, errstr, errsize);
        if (h5util_agree(comm, rc, "a snapshot step", errstr, errsize)) {
            result = -1;
            break;
        }
        if (MPI_Bcast(cand, sizeof cand, MPI_CHAR, 0, comm) != MPI_SUCCESS) {
            h5util_err(errstr, errsize, "MPI_Bcast of a snapshot path failed");
            result = -1;
            break;
        }
        if (!cand[0]) break; /* none left */
        if (h5snap_read(comm, cand, meta, users, n, why, sizeof why) == 0) {
            if (path) snprintf(path, pathsize, "%s", cand);
            result = 0;
            break;
        }
        if (rank == 0 && warn) {
            char msg[SNAP_ERR_MAX + 64];
            h5util_err(msg, sizeof msg, "%s; skipped for an older snapshot", why);
            warn(warn_arg, msg);
        }
    }
    h5snap_list_free(paths, count);
    if (result != 0) memset(meta, 0, sizeof *meta);
    return result;
}
