/* h5results.c - the replay results file, written in parallel (layout and
 * contract in h5results.h).
 *
 * Design:
 *   1. Sizes are known at creation, so every dataset is contiguous, without
 *      filters, with its space allocated when it is created
 *      (H5D_ALLOC_TIME_EARLY, which parallel HDF5 requires) and no fill
 *      values written (H5D_FILL_TIME_NEVER): creating a file of 10 million
 *      rows writes a few kilobytes of metadata, and a later write of rows
 *      [first, first + count) is one H5Dwrite per dataset that HDF5 turns
 *      into one pwrite (sec2) or MPI_File_write_at (MPI-IO) of the caller's
 *      array, unconverted (memory and file types are the same on
 *      little-endian hosts). Deflate would cost 10-170 ns per row and column;
 *      here 500 MB of rows take what plain pwrite()s of the same columns
 *      take (1.1 s on this VM, where filling the page cache with new pages
 *      costs 1.5-2 ns per byte), plus 5-10%.
 *   2. Drivers: one rank uses the default (sec2) driver, more ranks MPI-IO
 *      with independent transfers (each rank writes its own slab when it
 *      is ready; see RES_COLLECTIVE for the measurement). All metadata (the
 *      layout, the attributes) is created at h5results_create, identically
 *      on every rank from values broadcast by rank 0, as parallel HDF5
 *      requires; writes touch raw data only.
 *   3. Publish: as h5archive_close. With MPI-IO every rank first syncs its
 *      own writes (H5Fflush: MPI_File_sync, for file systems shared between
 *      nodes), then the file is closed (collective), and rank 0 publishes it
 *      (h5util_publish: fsync, rename PATH.partial to PATH, fsync the
 *      directory). To keep
 *      that fsync short, rank 0 starts the kernel's writeback of the file
 *      after every write call (sync_file_range(SYNC_FILE_RANGE_WRITE) on a
 *      read-only descriptor it keeps open, see RES_KICK_WRITEBACK), so the
 *      disk works while the replay computes the next window.
 *   4. Agreement: every collective step ends in h5util_agree(), after which all
 *      ranks hold the same status and the lowest failing rank's message.
 *
 * State of a writer: created (h5results_create: PATH.partial laid out,
 * metadata written) -> written (h5results_write, any number of calls) ->
 * published (h5results_close) or removed (h5results_abort, or a failed
 * write or close). */
#include "h5/h5results.h"
#include "h5/h5cols.h"
#include "h5/h5util.h"
#include "base/timeparse.h"
#include "base/txn.h"

#include <hdf5.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Start the writeback after every write call (design note 3). Measured
 * (throwaway driver: 10,000,000 rows = 500 MB in windows of 262,144 rows,
 * ext4 on this 2-core VM, medians of 4-5 runs): the close's fsync drops from
 * 0.30 to 0.22 s and create+write+close from 1.45 to 1.38 s (-np 1), 1.39 to
 * 1.28 s (-np 2), with the writes themselves unchanged within the noise. */
#ifndef RES_KICK_WRITEBACK
#define RES_KICK_WRITEBACK 1
#endif
/* Transfer mode with MPI-IO: 0 independent, 1 collective (design note 2).
 * Collective measured slower at -np 2 (create+write+close 1.48 s against
 * 1.39 s, medians of 5) and needs one more agreement per call. */
#ifndef RES_COLLECTIVE
#define RES_COLLECTIVE 0
#endif

/* ---- the columns ---------------------------------------------------------- */

enum res_col { R_ID, R_BATCH, R_STATUS, R_REASON, R_T5, R_T6, R_T7, R_COUNT };

#define COL(field) offsetof(h5results_columns_t, field)

static const h5cols_def_t res_defs[R_COUNT] = {
    {"/transactions/id", H5COLS_U8, 16, 0, 0, "bytes",
     "id_transacao of the input row: transaction UUID, 16 bytes in RFC 4122 order", NULL,
     H5COLS_NO_EXTRA, COL(id)},
    {"/results/batch_id", H5COLS_I64, 1, 0, 0, "batch",
     "batch the replay decided the row in: the archive's batch_id when the root attribute "
     "batch_size is 0, else the replay's own batches of batch_size rows",
     NULL, H5COLS_NO_EXTRA, COL(batch_id)},
    {"/results/status", H5COLS_U8, 1, 0, 0, "code",
     "0 = aprovada, 1 = rejeitada, 2 = nao_processada (attribute names)", "names",
     H5COLS_STATUS_NAMES, COL(status)},
    {"/results/reason", H5COLS_U8, 1, 0, 0, "code",
     "reason of a rejection or non-processing: index into the comma-separated attribute "
     "names; 0 = none",
     "names", H5COLS_REASON_NAMES, COL(reason)},
    {"/results/t5", H5COLS_F64, 1, 0, 0, "1",
     "risk factor t5 (distance between home region and transaction region); NaN = not scored", NULL,
     H5COLS_NO_EXTRA, COL(t5)},
    {"/results/t6", H5COLS_F64, 1, 0, 0, "1",
     "risk factor t6 (amount above the threshold); NaN = not scored", NULL, H5COLS_NO_EXTRA,
     COL(t6)},
    {"/results/t7", H5COLS_F64, 1, 0, 0, "1", "risk factor t7 (hour of day); NaN = not scored",
     NULL, H5COLS_NO_EXTRA, COL(t7)},
};

#undef COL

/* Contiguous, allocated at creation (parallel HDF5 requires it); never read
 * back by bankstream, so the message strings are for completeness. */
static const h5cols_table_t res_table = {
    res_defs,           R_COUNT,  0,   0, 1, "bankstream replay results",
    "the results file", "n_rows", "n", 0, 0};

/* ---- the writer --------------------------------------------------------------- */

struct h5results_writer {
    MPI_Comm comm;
    int rank, size;
    char *path, *partial;
    int64_t n_rows;
    hid_t fid, dxpl;
    h5cols_set_t cols;
    int fd;  /* every rank: a descriptor of the .partial (raw writes, kicks); else -1 */
    int raw; /* rows go to the file with pwrite at off[] (design note 1) */
    int64_t off[R_COUNT];
    int failed; /* a write failed: only abort is left */
};

/* What rank 0 broadcasts so that every rank writes the same metadata. It is
 * followed in the same buffer by the inputs (joined by newlines) and the
 * rules, each with its NUL. */
typedef struct res_header {
    int64_t created_us, n_rows, batch_size;
    uint64_t inputs_len, rules_len; /* bytes, without the NUL */
} res_header_t;

/* Close the HDF5 objects (the file too: collective with MPI-IO). Returns 0,
 * or -1 when closing the file failed. */
static int res_close_ids(h5results_writer_t *w)
{
    int rc = 0;
    h5cols_close(&w->cols);
    if (w->dxpl >= 0) {
        H5Pclose(w->dxpl);
        w->dxpl = H5I_INVALID_HID;
    }
    if (w->fid >= 0) {
        rc = H5Fclose(w->fid) < 0 ? -1 : 0;
        w->fid = H5I_INVALID_HID;
    }
    return rc;
}

static void res_free(h5results_writer_t *w)
{
    if (w->fd >= 0) close(w->fd);
    free(w->path);
    free(w->partial);
    free(w);
}

/* Rank 0: remove a stale .partial and create an empty one, so that a path
 * that cannot be created fails here with the system's reason, whatever the
 * HDF5 driver. Returns 0 or -1 with errstr. */
static int res_precreate(const h5results_writer_t *w, char *errstr, size_t errsize)
{
    int fd = -1;
    if (unlink(w->partial) == 0 || errno == ENOENT)
        fd = open(w->partial, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        h5util_err(errstr, errsize, "%s: cannot create %s: %s", w->path, w->partial,
                   strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* Rank 0: the header and the strings in one malloc'd buffer (see
 * res_header_t); its size in *len. NULL when out of memory. */
static char *res_pack_meta(const h5results_meta_t *meta, int64_t n_rows, size_t *len)
{
    res_header_t h = {timeparse_now_us(), n_rows, 0, 0, 0};
    const char *rules = "";
    int ninputs = 0;
    if (meta) {
        h.batch_size = meta->batch_size;
        if (meta->rules) rules = meta->rules;
        if (meta->inputs && meta->ninputs > 0) ninputs = meta->ninputs;
    }
    for (int i = 0; i < ninputs; i++)
        h.inputs_len += strlen(meta->inputs[i] ? meta->inputs[i] : "") + (i > 0);
    h.rules_len = strlen(rules);
    *len = sizeof h + h.inputs_len + 1 + h.rules_len + 1;
    char *buf = malloc(*len);
    if (buf == NULL) return NULL;
    memcpy(buf, &h, sizeof h);
    char *p = buf + sizeof h;
    for (int i = 0; i < ninputs; i++) {
        const char *s = meta->inputs[i] ? meta->inputs[i] : "";
        size_t n = strlen(s);
        if (i > 0) *p++ = '\n';
        memcpy(p, s, n);
        p += n;
    }
    *p++ = '\0';
    memcpy(p, rules, h.rules_len + 1);
    return buf;
}

/* Every rank: rank 0's packed metadata in *pack (malloc'd; rank 0 passes
 * its own in). Returns 0 or -1 with errstr (not yet agreed). */
static int res_share_meta(MPI_Comm comm, int rank, int size, const char *name, int64_t n_rows,
                          char **pack, char *errstr, size_t errsize)
{
    uint64_t lens[2] = {0, 0};
    if (rank == 0) {
        const res_header_t *h = (const res_header_t *)*pack;
        lens[0] = h->inputs_len;
        lens[1] = h->rules_len;
    }
    int rc = h5util_bcast(comm, lens, sizeof lens);
    size_t len = sizeof(res_header_t) + lens[0] + 1 + lens[1] + 1;
    if (rc == 0 && rank != 0) rc = (*pack = malloc(len)) ? 0 : -1;
    /* Agree before the second broadcast, which every rank must join. */
    if (rc)
        h5util_err(errstr, errsize, "%s: cannot create: out of memory or MPI_Bcast failed", name);
    if (h5util_agree(comm, rc, "a results-file step", errstr, errsize)) return -1;
    if (h5util_bcast(comm, *pack, len) != 0) {
        h5util_err(errstr, errsize, "%s: cannot create: MPI_Bcast of the metadata failed", name);
        return -1;
    }
    int64_t root_rows = ((const res_header_t *)*pack)->n_rows;
    if (root_rows != n_rows) {
        h5util_err(errstr, errsize,
                   "%s: cannot create: rank %d was given %" PRId64 " rows, rank 0 %" PRId64, name,
                   rank, n_rows, root_rows);
        return -1;
    }
    return 0;
}

/* The root attributes, from the metadata rank 0 broadcast. */
static int res_write_root_attrs(h5results_writer_t *w, const char *pack, char *errstr,
                                size_t errsize)
{
    const res_header_t *h = (const res_header_t *)pack;
    const char *inputs = pack + sizeof *h, *rules = inputs + h->inputs_len + 1;
    int rc = (h5util_attr_i32(w->fid, "format_version", H5RESULTS_FORMAT_VERSION) < 0 ||
              h5util_attr_str(w->fid, "kind", H5RESULTS_KIND) < 0 ||
              h5util_attr_created(w->fid, h->created_us) < 0 ||
              h5util_attr_i64(w->fid, "n_rows", h->n_rows) < 0 ||
              h5util_attr_str(w->fid, "inputs", inputs) < 0 ||
              h5util_attr_i64(w->fid, "batch_size", h->batch_size) < 0 ||
              h5util_attr_str(w->fid, "rules", rules) < 0)
                 ? -1
                 : 0;
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot write the root attributes: %s", w->partial,
                   h5util_reason(why, sizeof why));
    }
    return rc;
}

/* Open the .partial with HDF5 (sec2 for one rank, else MPI-IO). Returns 0 or
 * -1 with errstr. */
static int res_open_hdf5(h5results_writer_t *w, MPI_Comm comm, char *errstr, size_t errsize)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    int mpio = w->size > 1;
    if (mpio) w->dxpl = H5Pcreate(H5P_DATASET_XFER);
    int rc = (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
              (mpio && (w->dxpl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
                        H5Pset_dxpl_mpio(w->dxpl, RES_COLLECTIVE ? H5FD_MPIO_COLLECTIVE
                                                                 : H5FD_MPIO_INDEPENDENT) < 0)))
                 ? -1
                 : 0;
    if (rc == 0) {
        w->fid = H5Fcreate(w->partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        rc = w->fid < 0 ? -1 : 0;
    }
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot create %s: %s", w->path, w->partial,
                   h5util_reason(why, sizeof why));
    }
    if (fapl >= 0) H5Pclose(fapl);
    return rc;
}

h5results_writer_t *h5results_create(MPI_Comm comm, const char *path, int64_t n_rows,
                                     const h5results_meta_t *meta, char *errstr, size_t errsize)
{
    h5util_quiet();
    int rank = 0, size = 1, rc = 0, created = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char *pack = NULL;
    const char *name = path && *path ? path : "(no path)";

    h5results_writer_t *w = calloc(1, sizeof *w);
    if (w) {
        w->comm = comm;
        w->rank = rank;
        w->size = size;
        w->n_rows = n_rows;
        w->fd = -1;
        w->fid = w->dxpl = H5I_INVALID_HID;
        size_t plen = strlen(name) + sizeof ".partial";
        w->path = strdup(name);
        w->partial = malloc(plen);
        if (w->partial) snprintf(w->partial, plen, "%s.partial", name);
        h5cols_init(&w->cols, &res_table, w->partial);
    }
    if (w == NULL || w->path == NULL || w->partial == NULL) {
        h5util_err(errstr, errsize, "%s: cannot create: out of memory", name);
        rc = -1;
    } else if (!path || !*path || n_rows < 0) {
        h5util_err(errstr, errsize,
                   "%s: cannot create with %" PRId64 " rows: need a path and n_rows >= 0", name,
                   n_rows);
        rc = -1;
    }

    /* Rank 0: the metadata every rank will write, and the empty .partial. */
    if (rc == 0 && rank == 0) {
        size_t len;
        if ((pack = res_pack_meta(meta, n_rows, &len)) == NULL) {
            h5util_err(errstr, errsize, "%s: cannot create: out of memory", name);
            rc = -1;
        }
        if (rc == 0) rc = res_precreate(w, errstr, errsize);
        created = rc == 0;
    }
    if (h5util_agree(comm, rc, "a results-file step", errstr, errsize)) goto fail;
    if (size > 1) {
        rc = res_share_meta(comm, rank, size, name, n_rows, &pack, errstr, errsize);
        if (h5util_agree(comm, rc, "a results-file step", errstr, errsize)) goto fail;
    }

    rc = res_open_hdf5(w, comm, errstr, errsize);
    if (h5util_agree(comm, rc, "a results-file step", errstr, errsize)) goto fail;
    rc = res_write_root_attrs(w, pack, errstr, errsize);
    if (rc == 0) rc = h5cols_create(&w->cols, w->fid, n_rows, errstr, errsize);
    if (h5util_agree(comm, rc, "a results-file step", errstr, errsize)) goto fail;

    /* Every rank keeps a descriptor for its raw writes and writeback kicks;
     * raw writes when every rank can make them (the same file: all or none). */
    if ((w->fd = open(w->partial, O_WRONLY)) < 0) {
        h5util_err(errstr, errsize, "%s: cannot open %s again: %s", w->path, w->partial,
                   strerror(errno));
        rc = -1;
    }
    int raw = h5cols_offsets(&w->cols, w->off) == 0;
    if (size > 1 && MPI_Allreduce(MPI_IN_PLACE, &raw, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) {
        h5util_err(errstr, errsize, "%s: cannot create: MPI_Allreduce failed", name);
        rc = -1;
    }
    w->raw = raw;
    if (h5util_agree(comm, rc, "a results-file step", errstr, errsize)) goto fail;
    free(pack);
    return w;

fail:
    free(pack);
    if (w) {
        res_close_ids(w);
        H5Eclear2(H5E_DEFAULT);
        if (created) unlink(w->partial);
        res_free(w);
    }
    return NULL;
}

/* Local checks of one write: the writer, the range, the arrays, the enum
 * values. Returns 0 or -1 with errstr. */
static int res_check(const h5results_writer_t *w, int64_t first, int64_t count,
                     const h5results_columns_t *cols, char *errstr, size_t errsize)
{
    if (w->failed) {
        h5util_err(errstr, errsize, "%s: an earlier write failed; the results must be aborted",
                   w->partial);
        return -1;
    }
    if (first < 0 || count < 0 || first > w->n_rows || count > w->n_rows - first) {
        h5util_err(errstr, errsize,
                   "%s: cannot write %" PRId64 " rows from row %" PRId64 ": the file holds %" PRId64
                   " rows",
                   w->partial, count, first, w->n_rows);
        return -1;
    }
    if (count == 0) return 0;
    for (int c = 0; c < R_COUNT; c++)
        if (h5cols_col(&res_defs[c], cols) == NULL) {
            h5util_err(errstr, errsize, "%s: no array given for dataset %s", w->partial,
                       res_defs[c].path);
            return -1;
        }
    /* One pass the compiler vectorizes; the row is looked for on failure only. */
    unsigned bad = 0;
    for (int64_t i = 0; i < count; i++)
        bad |= (unsigned)(cols->status[i] > STATUS_NOT_PROCESSED) |
               (unsigned)(cols->reason[i] >= REASON_COUNT);
    if (bad == 0) return 0;
    for (int64_t i = 0; i < count; i++) {
        int st = cols->status[i] > STATUS_NOT_PROCESSED;
        if (st || cols->reason[i] >= REASON_COUNT) {
            h5util_err(errstr, errsize,
                       "%s: row %" PRId64 ": value %u is outside dataset %s; nothing of rows "
                       "%" PRId64 "..%" PRId64 " was written",
                       w->partial, first + i, st ? cols->status[i] : cols->reason[i],
                       res_defs[st ? R_STATUS : R_REASON].path, first, first + count);
            break;
        }
    }
    return -1;
}

/* pwrite all of buf at off; 0 or -1 with errno. */
static int res_pwrite(int fd, const void *buf, size_t n, int64_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

/* This rank's rows, raw (design note 1): one pwrite per column, then a
 * writeback kick of those bytes. 0 or -1 with errstr. */
static int res_write_raw(h5results_writer_t *w, int64_t first, int64_t count,
                         const h5results_columns_t *cols, char *errstr, size_t errsize)
{
    for (int c = 0; c < R_COUNT && count > 0; c++) {
        size_t rb = h5cols_row_bytes(&res_defs[c]);
        int64_t at = w->off[c] + first * (int64_t)rb;
        if (res_pwrite(w->fd, h5cols_col(&res_defs[c], cols), (size_t)count * rb, at) != 0) {
            h5util_err(errstr, errsize,
                       "%s: writing dataset %s (rows %" PRId64 "..%" PRId64 ") failed: %s",
                       w->partial, res_defs[c].path, first, first + count, strerror(errno));
            return -1;
        }
#if RES_KICK_WRITEBACK
        /* Start writing these pages out without waiting. Only a hint: the
         * fsync at close reports errors. */
        sync_file_range(w->fd, (off_t)at, (off_t)((size_t)count * rb), SYNC_FILE_RANGE_WRITE);
#endif
    }
    return 0;
}

int h5results_local_writes(const h5results_writer_t *w)
{
    return w->raw;
}

int h5results_write_local(h5results_writer_t *w, int64_t first, int64_t count,
                          const h5results_columns_t *cols, char *errstr, size_t errsize)
{
    int rc = res_check(w, first, count, cols, errstr, errsize);
    if (rc == 0 && w->raw) {
        rc = res_write_raw(w, first, count, cols, errstr, errsize);
    } else if (rc == 0 && w->n_rows > 0) { /* HDF5 refuses any write to a dataset of no rows */
        h5util_quiet();
        rc = h5cols_io(&w->cols, 1, w->dxpl >= 0 ? w->dxpl : H5P_DEFAULT, first, count, cols,
                       errstr, errsize);
#if RES_KICK_WRITEBACK
        if (rc == 0) sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    }
    if (rc) w->failed = 1;
    return rc;
}

int h5results_write(h5results_writer_t *w, int64_t first, int64_t count,
                    const h5results_columns_t *cols, char *errstr, size_t errsize)
{
    h5util_quiet();
    int rc = 0;
    /* Collective transfers need every rank in every H5Dwrite: agree first. */
    if (RES_COLLECTIVE && !w->raw) {
        rc = res_check(w, first, count, cols, errstr, errsize);
        if (h5util_agree(w->comm, rc, "a results-file step", errstr, errsize)) rc = -1;
    }
    if (rc == 0) rc = h5results_write_local(w, first, count, cols, errstr, errsize);
    if (h5util_agree(w->comm, rc, "a results-file step", errstr, errsize)) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

int h5results_close(h5results_writer_t *w, char *errstr, size_t errsize)
{
    h5util_quiet();
    int rc = 0;
    if (w->failed) {
        h5util_err(errstr, errsize, "%s: an earlier write failed; the results were not published",
                   w->partial);
        rc = -1;
    }
    if (h5util_agree(w->comm, rc, "a results-file step", errstr, errsize)) goto fail;
    /* Every rank syncs its own writes: they reach the disk even where rank
     * 0's fsync cannot see them (caches of other nodes); on one machine the
     * first sync writes every rank's pages and the others find none. */
    if (w->raw && w->size > 1 && fdatasync(w->fd) != 0) {
        h5util_err(errstr, errsize, "%s: flushing failed: %s", w->partial, strerror(errno));
        rc = -1;
    }
    /* MPI_File_sync on every rank, for what HDF5 wrote itself (the same
     * reason). On one machine it costs nothing (close 0.210 s with it,
     * 0.212 s without). */
    if (rc == 0 && w->size > 1 && H5Fflush(w->fid, H5F_SCOPE_GLOBAL) < 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: flushing failed: %s", w->partial,
                   h5util_reason(why, sizeof why));
        rc = -1;
    }
    if (h5util_agree(w->comm, rc, "a results-file step", errstr, errsize)) goto fail;
    if (res_close_ids(w) != 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: closing (flushing) failed: %s", w->partial,
                   h5util_reason(why, sizeof why));
        rc = -1;
    }
    if (h5util_agree(w->comm, rc, "a results-file step", errstr, errsize)) goto fail;
    close(w->fd); /* h5util_publish syncs through a descriptor of its own */
    w->fd = -1;
    if (w->rank == 0) {
        rc = h5util_publish(H5I_INVALID_HID, w->partial, w->path, errstr, errsize);
    }
    if (h5util_agree(w->comm, rc, "a results-file step", errstr, errsize)) goto fail;
    res_free(w);
    return 0;
fail:
    res_close_ids(w);
    H5Eclear2(H5E_DEFAULT);
    if (w->rank == 0) unlink(w->partial); /* gone already when only the fsync of DIR failed */
    res_free(w);
    return -1;
}

void h5results_abort(h5results_writer_t *w)
{
    if (w == NULL) return;
    h5util_quiet();
    res_close_ids(w);
    H5Eclear2(H5E_DEFAULT);
    if (w->rank == 0) unlink(w->partial);
    h5util_agree(w->comm, 0, "a results-file step", NULL, 0); /* returns once the file is gone */
    res_free(w);
}
