/* h5archive.c - the columnar HDF5 transaction archive (layout and contract in
 * h5archive.h).
 *
 * Design:
 *   1. Columns, not records: each field is its own 1-D dataset (the UUIDs
 *      [n][16]), so h5dump and h5py show plain typed arrays and a reader takes
 *      any slice of rows as one hyperslab per dataset. A column table
 *      (arch_cols) drives creation, checking, writing and reading alike.
 *   2. Chunks: ARCH_CHUNK_ROWS rows in every dataset, so row r lives in chunk
 *      r / ARCH_CHUNK_ROWS of each column. The writer buffers exactly one
 *      chunk of rows and writes it when full (H5Dset_extent, then one H5Dwrite
 *      per column that covers the whole chunk, so each chunk is compressed
 *      once and never read back). Readers work a piece of whole chunks at a
 *      time (arch_read_rows).
 *   3. Filters: shuffle + deflate level 1 on the numeric columns (their high
 *      bytes are nearly constant: amounts, times and the enums shrink 3-50x,
 *      produce's NaN scores and constant Kafka columns to almost nothing);
 *      none on the three UUID columns, which are random bytes that deflate
 *      cannot shrink (measured 0-1.5%) but costs most of the read time.
 *   Measured (tests/bench/archive_read.sh, 10,000,000 produced rows over
 *   100,000 users, 2 busy cores, warm page cache, plain H5Dread of every
 *   column with one rank, CPU seconds):
 *      layout                               file      read CPU
 *      no filters                           1,203 MB  0.3-0.4 s
 *      this one (UUIDs unfiltered)            519 MB  1.1-1.2 s
 *      deflate on the UUIDs too               513 MB  2.5-2.7 s
 *   Chunks of 16,384 and 65,536 rows read alike; 131,072 and 262,144 were
 *   slower (the UUID chunks, 2-4 MB, outgrow the chunk cache).
 *   4. Publish: the writer works on PATH.partial with the default (serial)
 *      driver; h5archive_close flushes, closes, fsyncs, renames and fsyncs the
 *      directory. Metadata is in the 1.8 format (libver bounds V18), which
 *      checksums object headers, so damage there fails at open.
 *   5. Readers: rank 0 checks the file serially first (precheck, kind,
 *      version, every dataset), then every rank opens it with MPI-IO and reads
 *      with independent transfers: HDF5 1.10.8's collective transfers of
 *      chunked, filtered datasets measured 4-5x slower (6.5 CPU s against
 *      1.5 for the table above at -np 2). Each collective step ends in
 *      h5util_agree(), so all ranks return the same code and message.
 *
 * State of a writer: created (PATH.partial open, no rows) -> appending (rows
 * buffered, whole chunks in the file) -> closed (h5archive_close: published)
 * or aborted (h5archive_abort, or a failed close: .partial removed). */
#include "h5/h5archive.h"
#include "h5/h5util.h"
#include "base/timeparse.h"
#include "engine/exchange.h"
#include "h5/h5snap.h"
#include "base/regions.h"
#include "engine/rules.h"

#include <hdf5.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Rows per chunk (see design note 3). */
#define ARCH_CHUNK_ROWS     ((size_t)65536)
#define ARCH_READ_MAX_PIECE ((size_t)1 << 20) /* bigger chunks (foreign writers) read in pieces */
#define ARCH_TRANSPOSE_ROWS ((size_t)512)
#define ARCH_DEFLATE        1
#define ARCH_KIND           "a bankstream transaction archive" /* in attribute errors */

/* ---- the columns ---------------------------------------------------------- */

enum arch_kind { K_UUID, K_U8, K_I32, K_I64, K_F64 };

enum arch_col {
    C_ID,
    C_PAYER,
    C_RECEIVER,
    C_TIME,
    C_AMOUNT,
    C_REGION,
    C_MODALITY,
    C_PARTITION,
    C_OFFSET,
    C_KAFKA_TS,
    C_BATCH,
    C_STATUS,
    C_REASON,
    C_T5,
    C_T6,
    C_T7,
    C_COUNT
};

static const struct arch_col_def {
    int group;        /* 0 = /transactions, 1 = /results */
    const char *name; /* dataset name inside the group */
    const char *path; /* full path, for messages */
    enum arch_kind kind;
    const char *shape; /* for messages */
    const char *units;
    const char *meaning;
} arch_cols[C_COUNT] = {
    {0, "id", "/transactions/id", K_UUID, "uint8[n][16]", "bytes",
     "transaction UUID (id_transacao), 16 bytes in RFC 4122 order"},
    {0, "payer", "/transactions/payer", K_UUID, "uint8[n][16]", "bytes",
     "paying user's UUID (id_usuario_pagador), 16 bytes in RFC 4122 order"},
    {0, "receiver", "/transactions/receiver", K_UUID, "uint8[n][16]", "bytes",
     "receiving user's UUID (id_usuario_recebedor), 16 bytes in RFC 4122 order"},
    {0, "time_us", "/transactions/time_us", K_I64, "int64[n]", "microseconds since 1970-01-01 UTC",
     "data_horario of the transaction"},
    {0, "amount_cents", "/transactions/amount_cents", K_I64, "int64[n]", "centavos (BRL / 100)",
     "valor_transacao"},
    {0, "region", "/transactions/region", K_U8, "uint8[n]", "index",
     "id_regiao: index into the comma-separated attribute codes, 0 = AC"},
    {0, "modality", "/transactions/modality", K_U8, "uint8[n]", "index",
     "modalidade_pagamento: index into the comma-separated attribute names, 0 = PIX"},
    {0, "kafka_partition", "/transactions/kafka_partition", K_I32, "int32[n]", "partition",
     "Kafka partition the message was read from; -1 = not from Kafka (produce)"},
    {0, "kafka_offset", "/transactions/kafka_offset", K_I64, "int64[n]", "offset",
     "Kafka offset of the message in its partition; -1 = not from Kafka (produce)"},
    {0, "kafka_ts_ms", "/transactions/kafka_ts_ms", K_I64, "int64[n]",
     "milliseconds since 1970-01-01 UTC",
     "broker timestamp of the message; for produce, data_horario in milliseconds"},
    {0, "batch_id", "/transactions/batch_id", K_I64, "int64[n]", "batch",
     "micro-batch that decided the transaction; 0 = none (produce)"},
    {1, "status", "/results/status", K_U8, "uint8[n]", "code",
     "0 = aprovada, 1 = rejeitada, 2 = nao_processada, 255 = not decided (produce)"},
    {1, "reason", "/results/reason", K_U8, "uint8[n]", "code",
     "reason of a rejection or non-processing: index into the comma-separated attribute "
     "names; 0 = none"},
    {1, "t5", "/results/t5", K_F64, "float64[n]", "1",
     "risk factor t5 (distance between home region and transaction region); NaN = not scored"},
    {1, "t6", "/results/t6", K_F64, "float64[n]", "1",
     "risk factor t6 (amount above the threshold); NaN = not scored"},
    {1, "t7", "/results/t7", K_F64, "float64[n]", "1",
     "risk factor t7 (hour of day); NaN = not scored"},
};

static const char *const arch_groups[2] = {"transactions", "results"};

static size_t arch_elem_size(enum arch_kind k)
{
    switch (k) {
    case K_UUID:
        return 16;
    case K_U8:
        return 1;
    case K_I32:
        return 4;
    default:
        return 8;
    }
}

static hid_t arch_file_type(enum arch_kind k)
{
    switch (k) {
    case K_UUID:
    case K_U8:
        return H5T_STD_U8LE;
    case K_I32:
        return H5T_STD_I32LE;
    case K_I64:
        return H5T_STD_I64LE;
    default:
        return H5T_IEEE_F64LE;
    }
}

static hid_t arch_mem_type(enum arch_kind k)
{
    switch (k) {
    case K_UUID:
    case K_U8:
        return H5T_NATIVE_UINT8;
    case K_I32:
        return H5T_NATIVE_INT32;
    case K_I64:
        return H5T_NATIVE_INT64;
    default:
        return H5T_NATIVE_DOUBLE;
    }
}

/* Where column c lives in a row. */
static size_t arch_offset(int c)
{
    static const size_t off[C_COUNT] = {
        offsetof(txn_record_t, txn.id),
        offsetof(txn_record_t, txn.payer),
        offsetof(txn_record_t, txn.receiver),
        offsetof(txn_record_t, txn.time_us),
        offsetof(txn_record_t, txn.amount_cents),
        offsetof(txn_record_t, txn.region),
        offsetof(txn_record_t, txn.modality),
        offsetof(txn_record_t, partition),
        offsetof(txn_record_t, offset),
        offsetof(txn_record_t, kafka_ts_ms),
        offsetof(txn_record_t, batch_id),
        offsetof(txn_record_t, status),
        offsetof(txn_record_t, reason),
        offsetof(txn_record_t, t5),
        offsetof(txn_record_t, t6),
        offsetof(txn_record_t, t7),
    };
    return off[c];
}

/* rows[0..n) -> column c's cells col[at..at+n). */
static void arch_pack(int c, const txn_record_t *rows, size_t n, void *col, size_t at)
{
    size_t sz = arch_elem_size(arch_cols[c].kind), off = arch_offset(c);
    char *dst = (char *)col + at * sz;
    for (size_t i = 0; i < n; i++)
        memcpy(dst + i * sz, (const char *)&rows[i] + off, sz);
}

/* Column c's cells col[0..n) -> rows[0..n). One loop per element size, so
 * that each memcpy is a single move. */
static void arch_unpack(int c, const void *col, txn_record_t *rows, size_t n)
{
    size_t off = arch_offset(c);
    const char *src = col;
    switch (arch_elem_size(arch_cols[c].kind)) {
    case 1:
        for (size_t i = 0; i < n; i++)
            memcpy((char *)&rows[i] + off, src + i, 1);
        break;
    case 4:
        for (size_t i = 0; i < n; i++)
            memcpy((char *)&rows[i] + off, src + i * 4, 4);
        break;
    case 8:
        for (size_t i = 0; i < n; i++)
            memcpy((char *)&rows[i] + off, src + i * 8, 8);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            memcpy((char *)&rows[i] + off, src + i * 16, 16);
        break;
    }
}

/* ---- attributes (read with h5util_attr_read_*) ---------------------------------- */

/* Overwrite an existing scalar int64 attribute. */
static int arch_attr_set_i64(hid_t obj, const char *name, int64_t v)
{
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    int rc = (attr >= 0 && H5Awrite(attr, H5T_NATIVE_INT64, &v) >= 0) ? 0 : -1;
    if (attr >= 0) H5Aclose(attr);
    return rc;
}

/* ---- writer ----------------------------------------------------------------- */

struct h5archive_writer {
    char *path, *partial;
    hid_t fid, grp[2], dset[C_COUNT];
    void *buf[C_COUNT]; /* ARCH_CHUNK_ROWS cells each */
    size_t nbuf;        /* rows buffered, not yet in the file */
    int64_t nfile;      /* rows in the file */
    int is_produce;
    int failed; /* a write failed: only abort is left */
    int64_t first_batch, last_batch;
};

static void arch_writer_close_ids(h5archive_writer_t *w)
{
    for (int c = 0; c < C_COUNT; c++)
        if (w->dset[c] >= 0) {
            H5Dclose(w->dset[c]);
            w->dset[c] = H5I_INVALID_HID;
        }
    for (int g = 0; g < 2; g++)
        if (w->grp[g] >= 0) {
            H5Gclose(w->grp[g]);
            w->grp[g] = H5I_INVALID_HID;
        }
}

static void arch_writer_free(h5archive_writer_t *w)
{
    for (int c = 0; c < C_COUNT; c++)
        free(w->buf[c]);
    free(w->path);
    free(w->partial);
    free(w);
}

/* Create the groups, the datasets (empty, extensible, chunked, filtered) and
 * their attributes. Returns 0 or -1 with errstr naming the object. */
static int arch_create_layout(h5archive_writer_t *w, char *errstr, size_t errsize)
{
    char codes[REGION_COUNT * 3 + 1] = "", mods[64] = "", reasons[256] = "";
    for (int i = 0; i < REGION_COUNT; i++) {
        strcat(codes, region_table[i].code);
        if (i + 1 < REGION_COUNT) strcat(codes, ",");
    }
    for (int i = 0; i < MOD_COUNT; i++) {
        strcat(mods, modality_names[i]);
        if (i + 1 < MOD_COUNT) strcat(mods, ",");
    }
    for (int i = 0; i < REASON_COUNT; i++) {
        if (txn_reason_names[i]) strcat(reasons, txn_reason_names[i]);
        if (i + 1 < REASON_COUNT) strcat(reasons, ",");
    }
    char why[256];
    for (int g = 0; g < 2; g++) {
        w->grp[g] = H5Gcreate2(w->fid, arch_groups[g], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (w->grp[g] < 0) {
            h5util_err(errstr, errsize, "%s: cannot create group /%s: %s", w->partial,
                       arch_groups[g], h5util_reason(why, sizeof why));
            return -1;
        }
    }
    if (h5util_attr_i64(w->grp[0], "chunk_rows", (int64_t)ARCH_CHUNK_ROWS) < 0) {
        h5util_err(errstr, errsize, "%s: cannot write attribute chunk_rows of /transactions: %s",
                   w->partial, h5util_reason(why, sizeof why));
        return -1;
    }
    int rc = 0;
    for (int c = 0; c < C_COUNT && rc == 0; c++) {
        const struct arch_col_def *d = &arch_cols[c];
        int two = d->kind == K_UUID;
        hsize_t dims[2] = {0, 16}, maxdims[2] = {H5S_UNLIMITED, 16};
        hsize_t chunk[2] = {ARCH_CHUNK_ROWS, 16};
        hid_t space = H5Screate_simple(two ? 2 : 1, dims, maxdims);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        rc = (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, two ? 2 : 1, chunk) < 0 ||
              H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
              (!two && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, ARCH_DEFLATE) < 0)))
                 ? -1
                 : 0;
        if (rc == 0) {
            w->dset[c] = H5Dcreate2(w->grp[d->group], d->name, arch_file_type(d->kind), space,
                                    H5P_DEFAULT, dcpl, H5P_DEFAULT);
            rc = w->dset[c] < 0 ? -1 : 0;
        }
        if (rc == 0)
            rc = (h5util_attr_str(w->dset[c], "units", d->units) < 0 ||
                  h5util_attr_str(w->dset[c], "meaning", d->meaning) < 0)
                     ? -1
                     : 0;
        if (rc == 0 && c == C_REGION) rc = h5util_attr_str(w->dset[c], "codes", codes) < 0 ? -1 : 0;
        if (rc == 0 && c == C_MODALITY)
            rc = h5util_attr_str(w->dset[c], "names", mods) < 0 ? -1 : 0;
        if (rc == 0 && c == C_REASON)
            rc = h5util_attr_str(w->dset[c], "names", reasons) < 0 ? -1 : 0;
        if (rc == 0 && c == C_STATUS)
            rc = h5util_attr_str(w->dset[c], "names", "aprovada,rejeitada,nao_processada") < 0 ? -1
                                                                                               : 0;
        if (rc)
            h5util_err(errstr, errsize, "%s: cannot create dataset %s: %s", w->partial, d->path,
                       h5util_reason(why, sizeof why));
        if (dcpl >= 0) H5Pclose(dcpl);
        if (space >= 0) H5Sclose(space);
    }
    return rc;
}

static int arch_write_root_attrs(h5archive_writer_t *w, const char *source, const char *topic,
                                 uint64_t seed, char *errstr, size_t errsize)
{
    int64_t now = timeparse_now_us();
    char iso[40];
    h5snap_format_time(now, iso, sizeof iso);
    int32_t version = H5ARCHIVE_FORMAT_VERSION;
    int rc = (h5util_attr_write(w->fid, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32,
                                &version) < 0 ||
              h5util_attr_str(w->fid, "kind", H5ARCHIVE_KIND) < 0 ||
              h5util_attr_i64(w->fid, "created_unix_us", now) < 0 ||
              h5util_attr_str(w->fid, "created_iso", iso) < 0 ||
              h5util_attr_str(w->fid, "source", source) < 0 ||
              h5util_attr_str(w->fid, "topic", topic) < 0 ||
              h5util_attr_i64(w->fid, "first_batch_id", -1) < 0 ||
              h5util_attr_i64(w->fid, "last_batch_id", -1) < 0 ||
              h5util_attr_i64(w->fid, "n_rows", 0) < 0 ||
              (w->is_produce &&
               h5util_attr_write(w->fid, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed) < 0))
                 ? -1
                 : 0;
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot write the root attributes: %s", w->partial,
                   h5util_reason(why, sizeof why));
    }
    return rc;
}

h5archive_writer_t *h5archive_create(const char *path, const char *source, const char *topic,
                                     uint64_t seed, char *errstr, size_t errsize)
{
    h5util_quiet();
    if (!path || !*path || !source ||
        (strcmp(source, "stream") && strcmp(source, "produce") && strcmp(source, "replay"))) {
        h5util_err(errstr, errsize,
                   "h5archive_create: need a path and source \"stream\", \"produce\" or "
                   "\"replay\"");
        return NULL;
    }
    if (!topic) topic = "";
    h5archive_writer_t *w = calloc(1, sizeof *w);
    hid_t fapl = H5I_INVALID_HID;
    if (w == NULL) {
        h5util_err(errstr, errsize, "%s: out of memory", path);
        return NULL;
    }
    w->fid = H5I_INVALID_HID;
    for (int g = 0; g < 2; g++)
        w->grp[g] = H5I_INVALID_HID;
    for (int c = 0; c < C_COUNT; c++)
        w->dset[c] = H5I_INVALID_HID;
    w->is_produce = strcmp(source, "produce") == 0;
    w->first_batch = w->last_batch = -1;
    size_t plen = strlen(path);
    w->path = strdup(path);
    w->partial = malloc(plen + sizeof ".partial");
    int ok = w->path && w->partial;
    for (int c = 0; c < C_COUNT && ok; c++)
        ok = (w->buf[c] = malloc(ARCH_CHUNK_ROWS * arch_elem_size(arch_cols[c].kind))) != NULL;
    if (!ok) {
        h5util_err(errstr, errsize, "%s: out of memory for the archive buffers", path);
        arch_writer_free(w);
        return NULL;
    }
    memcpy(w->partial, path, plen);
    memcpy(w->partial + plen, ".partial", sizeof ".partial");

    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot set up HDF5: %s", path,
                   h5util_reason(why, sizeof why));
        goto fail;
    }
    errno = 0;
    w->fid = H5Fcreate(w->partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (w->fid < 0) {
        int e = errno;
        char why[256];
        h5util_reason(why, sizeof why);
        h5util_err(errstr, errsize, "%s: cannot create: %s", w->partial, e ? strerror(e) : why);
        goto fail;
    }
    if (arch_write_root_attrs(w, source, topic, seed, errstr, errsize) != 0) goto fail;
    if (arch_create_layout(w, errstr, errsize) != 0) goto fail;
    H5Pclose(fapl);
    return w;
fail:
    if (fapl >= 0) H5Pclose(fapl);
    h5archive_abort(w);
    return NULL;
}

/* Write the nbuf buffered rows at the end of every dataset. Returns 0 or -1
 * with errstr; the writer is marked failed then. */
static int arch_flush(h5archive_writer_t *w, char *errstr, size_t errsize)
{
    if (w->nbuf == 0) return 0;
    int rc = 0;
    char why[256];
    for (int c = 0; c < C_COUNT && rc == 0; c++) {
        int two = arch_cols[c].kind == K_UUID;
        hsize_t start[2] = {(hsize_t)w->nfile, 0}, count[2] = {w->nbuf, 16};
        hsize_t size[2] = {(hsize_t)w->nfile + w->nbuf, 16};
        hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
        rc = H5Dset_extent(w->dset[c], size) < 0 ? -1 : 0;
        if (rc == 0) {
            fspace = H5Dget_space(w->dset[c]);
            mspace = H5Screate_simple(two ? 2 : 1, count, NULL);
            rc = (fspace < 0 || mspace < 0 ||
                  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                  H5Dwrite(w->dset[c], arch_mem_type(arch_cols[c].kind), mspace, fspace,
                           H5P_DEFAULT, w->buf[c]) < 0)
                     ? -1
                     : 0;
        }
        if (mspace >= 0) H5Sclose(mspace);
        if (fspace >= 0) H5Sclose(fspace);
        if (rc)
            h5util_err(errstr, errsize, "%s: writing dataset %s failed: %s", w->partial,
                       arch_cols[c].path, h5util_reason(why, sizeof why));
    }
    if (rc) {
        w->failed = 1;
        return -1;
    }
    w->nfile += (int64_t)w->nbuf;
    w->nbuf = 0;
    return 0;
}

/* Check one row's enum columns; returns NULL or the dataset at fault. */
static const char *arch_row_bad(const txn_record_t *r)
{
    if (r->txn.region >= REGION_COUNT) return arch_cols[C_REGION].path;
    if (r->txn.modality >= MOD_COUNT) return arch_cols[C_MODALITY].path;
    if (r->status > STATUS_NOT_PROCESSED && r->status != STATUS_NONE)
        return arch_cols[C_STATUS].path;
    if (r->reason >= REASON_COUNT) return arch_cols[C_REASON].path;
    return NULL;
}

int h5archive_append(h5archive_writer_t *w, const txn_record_t *rows, size_t n, char *errstr,
                     size_t errsize)
{
    if (w->failed) {
        h5util_err(errstr, errsize, "%s: an earlier write failed; the archive must be aborted",
                   w->partial);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *bad = arch_row_bad(&rows[i]);
        if (bad) {
            h5util_err(errstr, errsize,
                       "%s: row %" PRId64 " has a value outside %s; nothing of this append was "
                       "written",
                       w->partial, w->nfile + (int64_t)(w->nbuf + i), bad);
            return -1;
        }
    }
    for (size_t i = 0; i < n && !w->is_produce; i++) {
        if (w->first_batch < 0 || rows[i].batch_id < w->first_batch)
            w->first_batch = rows[i].batch_id;
        if (rows[i].batch_id > w->last_batch) w->last_batch = rows[i].batch_id;
    }
    /* Fill the chunk buffer column by column; write it whenever it is full. */
    for (size_t done = 0; done < n;) {
        size_t take = ARCH_CHUNK_ROWS - w->nbuf;
        if (take > n - done) take = n - done;
        for (int c = 0; c < C_COUNT; c++)
            arch_pack(c, rows + done, take, w->buf[c], w->nbuf);
        w->nbuf += take;
        done += take;
        if (w->nbuf == ARCH_CHUNK_ROWS && arch_flush(w, errstr, errsize) != 0) return -1;
    }
    return 0;
}

int64_t h5archive_writer_rows(const h5archive_writer_t *w)
{
    return w->nfile + (int64_t)w->nbuf;
}

int h5archive_close(h5archive_writer_t *w, char *errstr, size_t errsize)
{
    if (w == NULL) return 0;
    h5util_quiet();
    char why[256];
    int rc = w->failed ? -1 : 0;
    if (rc)
        h5util_err(errstr, errsize, "%s: an earlier write failed; the archive was not published",
                   w->partial);
    if (rc == 0) rc = arch_flush(w, errstr, errsize);
    if (rc == 0) {
        rc = (arch_attr_set_i64(w->fid, "n_rows", w->nfile) < 0 ||
              arch_attr_set_i64(w->fid, "first_batch_id", w->first_batch) < 0 ||
              arch_attr_set_i64(w->fid, "last_batch_id", w->last_batch) < 0)
                 ? -1
                 : 0;
        if (rc)
            h5util_err(errstr, errsize, "%s: cannot update the root attributes: %s", w->partial,
                       h5util_reason(why, sizeof why));
    }
    if (rc) {
        h5archive_abort(w);
        return -1;
    }
    arch_writer_close_ids(w);
    herr_t closed = H5Fclose(w->fid);
    w->fid = H5I_INVALID_HID;
    if (closed < 0) {
        h5util_err(errstr, errsize, "%s: closing (flushing) failed: %s", w->partial,
                   h5util_reason(why, sizeof why));
        h5archive_abort(w);
        return -1;
    }
    int fd = open(w->partial, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        h5util_err(errstr, errsize, "%s: fsync failed: %s", w->partial, strerror(errno));
        if (fd >= 0) close(fd);
        h5archive_abort(w);
        return -1;
    }
    close(fd);
    if (rename(w->partial, w->path) != 0) {
        h5util_err(errstr, errsize, "cannot rename %s to %s: %s", w->partial, w->path,
                   strerror(errno));
        h5archive_abort(w);
        return -1;
    }
    rc = h5util_sync_dir(w->path, errstr, errsize);
    arch_writer_free(w);
    return rc;
}

void h5archive_abort(h5archive_writer_t *w)
{
    if (w == NULL) return;
    h5util_quiet();
    arch_writer_close_ids(w);
    if (w->fid >= 0) H5Fclose(w->fid);
    H5Eclear2(H5E_DEFAULT);
    if (w->partial) unlink(w->partial);
    arch_writer_free(w);
}

/* ---- reader ----------------------------------------------------------------- */

struct h5archive_reader {
    MPI_Comm comm;
    int size;
    char *path;
    hid_t fid, dxpl, dset[C_COUNT];
    h5archive_info_t info;
    int64_t piece;      /* rows per H5Dread: whole file chunks */
    void *col[C_COUNT]; /* piece cells of each column, allocated on first read */
};

/* The file exists, is a readable regular file and carries the HDF5 signature.
 * Returns 0 or -1 with errstr. */
/* Dataset d (column c) has the column's type class, size and sign, the
 * right rank and width, and n rows. Returns 0 or -1 with errstr. */
static int arch_check_dataset(hid_t d, int c, const char *path, int64_t n, int64_t *chunk_rows,
                              char *errstr, size_t errsize)
{
    const struct arch_col_def *def = &arch_cols[c];
    hid_t type = H5Dget_type(d), space = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    hsize_t dims[2] = {0, 0}, chunk[2] = {0, 0};
    int two = def->kind == K_UUID;
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    size_t bytes = two ? 1 : arch_elem_size(def->kind); /* a UUID is 16 uint8 */
    int type_ok = type >= 0 && H5Tget_size(type) == bytes;
    if (def->kind == K_F64)
        type_ok = type_ok && cls == H5T_FLOAT;
    else
        type_ok = type_ok && cls == H5T_INTEGER &&
                  H5Tget_sign(type) ==
                      (def->kind == K_I32 || def->kind == K_I64 ? H5T_SGN_2 : H5T_SGN_NONE);
    int shape_ok = rank == (two ? 2 : 1) && H5Sget_simple_extent_dims(space, dims, NULL) == rank &&
                   (!two || dims[1] == 16);
    if (shape_ok && dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
        H5Pget_chunk(dcpl, 2, chunk) == rank)
        *chunk_rows = (int64_t)chunk[0];
    else
        *chunk_rows = 0;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Eclear2(H5E_DEFAULT);
    if (!type_ok || !shape_ok) {
        h5util_err(errstr, errsize,
                   "%s: dataset %s has the wrong type or shape (expected %s): not a bankstream "
                   "transaction archive, or a damaged one",
                   path, def->path, def->shape);
        return -1;
    }
    if (dims[0] != (hsize_t)n) {
        h5util_err(errstr, errsize,
                   "%s: dataset %s has %llu rows but attribute n_rows says %" PRId64
                   ": the archive is damaged",
                   path, def->path, (unsigned long long)dims[0], n);
        return -1;
    }
    return 0;
}

/* Check the open file r->fid and read its root attributes: kind and format
 * version first (so foreign files and newer formats get their own message),
 * then every attribute and dataset, which stay open in r. Returns 0 or -1
 * with errstr naming the file and the object at fault. */
static int arch_check(h5archive_reader_t *r, char *errstr, size_t errsize)
{
    const char *p = r->path;
    h5archive_info_t *in = &r->info;
    char kind[64] = "", why[256];
    memset(in, 0, sizeof *in);
    htri_t ex = H5Aexists(r->fid, "kind");
    if (ex == 0) {
        h5util_err(errstr, errsize,
                   "%s: not a bankstream transaction archive: the root attribute kind is missing "
                   "(expected \"%s\" and datasets /transactions/..., /results/...)",
                   p, H5ARCHIVE_KIND);
        return -1;
    }
    if (h5util_attr_read_str(r->fid, p, "/", "kind", ARCH_KIND, kind, sizeof kind, errstr, errsize))
        return -1;
    if (strcmp(kind, H5ARCHIVE_KIND) != 0) {
        h5util_err(errstr, errsize,
                   "%s: not a bankstream transaction archive: root attribute kind is \"%s\", "
                   "expected \"%s\"",
                   p, kind, H5ARCHIVE_KIND);
        return -1;
    }
    int64_t v = 0;
    if (h5util_attr_read_int(r->fid, p, "/", "format_version", ARCH_KIND, 0, H5T_NATIVE_INT64, &v,
                             errstr, errsize))
        return -1;
    if (v > H5ARCHIVE_FORMAT_VERSION) {
        h5util_err(
            errstr, errsize,
            "format version %" PRId64
            " of %s is newer than this bankstream supports (%d): upgrade bankstream to read it",
            v, p, H5ARCHIVE_FORMAT_VERSION);
        return -1;
    }
    if (v < 1) {
        h5util_err(errstr, errsize, "%s: root attribute format_version is %" PRId64 ", not valid",
                   p, v);
        return -1;
    }
    in->format_version = (int)v;
    if (h5util_attr_read_str(r->fid, p, "/", "source", ARCH_KIND, in->source, sizeof in->source,
                             errstr, errsize) ||
        h5util_attr_read_str(r->fid, p, "/", "topic", ARCH_KIND, in->topic, sizeof in->topic,
                             errstr, errsize) ||
        h5util_attr_read_int(r->fid, p, "/", "created_unix_us", ARCH_KIND, 0, H5T_NATIVE_INT64,
                             &in->created_us, errstr, errsize) ||
        h5util_attr_read_int(r->fid, p, "/", "first_batch_id", ARCH_KIND, 0, H5T_NATIVE_INT64,
                             &in->first_batch_id, errstr, errsize) ||
        h5util_attr_read_int(r->fid, p, "/", "last_batch_id", ARCH_KIND, 0, H5T_NATIVE_INT64,
                             &in->last_batch_id, errstr, errsize) ||
        h5util_attr_read_int(r->fid, p, "/", "n_rows", ARCH_KIND, 0, H5T_NATIVE_INT64, &in->n_rows,
                             errstr, errsize))
        return -1;
    int s = h5util_attr_read_int(r->fid, p, "/", "seed", ARCH_KIND, 1, H5T_NATIVE_UINT64, &in->seed,
                                 errstr, errsize);
    if (s < 0) return -1;
    in->have_seed = s == 0;
    if (in->n_rows < 0) {
        h5util_err(errstr, errsize, "%s: root attribute n_rows is negative: the archive is damaged",
                   p);
        return -1;
    }
    for (int c = 0; c < C_COUNT; c++) {
        const char *full = arch_cols[c].path;
        htri_t g = H5Lexists(r->fid, arch_groups[arch_cols[c].group], H5P_DEFAULT);
        htri_t e = g > 0 ? H5Lexists(r->fid, full, H5P_DEFAULT) : g;
        if (e == 0) {
            h5util_err(errstr, errsize, "%s: dataset %s is missing", p, full);
            return -1;
        }
        hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
        /* Room for a few chunks of this column, so slices that cut through a
         * chunk do not inflate it again on the next read. */
        size_t bytes = 4 * ARCH_CHUNK_ROWS * arch_elem_size(arch_cols[c].kind);
        if (dapl >= 0) H5Pset_chunk_cache(dapl, 521, bytes, 1.0);
        r->dset[c] = e < 0 ? -1 : H5Dopen2(r->fid, full, dapl >= 0 ? dapl : H5P_DEFAULT);
        if (dapl >= 0) H5Pclose(dapl);
        if (r->dset[c] < 0) {
            h5util_err(errstr, errsize, "%s: cannot open dataset %s: %s", p, full,
                       h5util_reason(why, sizeof why));
            return -1;
        }
        int64_t chunk = 0;
        if (arch_check_dataset(r->dset[c], c, p, in->n_rows, &chunk, errstr, errsize)) return -1;
        if (c == 0) in->chunk_rows = chunk;
    }
    return 0;
}

static void arch_reader_close_ids(h5archive_reader_t *r)
{
    for (int c = 0; c < C_COUNT; c++)
        if (r->dset[c] >= 0) {
            H5Dclose(r->dset[c]);
            r->dset[c] = H5I_INVALID_HID;
        }
    if (r->dxpl >= 0) {
        H5Pclose(r->dxpl);
        r->dxpl = H5I_INVALID_HID;
    }
    if (r->fid >= 0) {
        H5Fclose(r->fid);
        r->fid = H5I_INVALID_HID;
    }
    H5Eclear2(H5E_DEFAULT);
}

/* Open r->path with fapl (H5P_DEFAULT: serial) and check it. 0 or -1 + errstr. */
static int arch_reader_open_file(h5archive_reader_t *r, hid_t fapl, char *errstr, size_t errsize)
{
    r->fid = H5Fopen(r->path, H5F_ACC_RDONLY, fapl);
    if (r->fid < 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot open as HDF5, the file is damaged or truncated: %s",
                   r->path, h5util_reason(why, sizeof why));
        return -1;
    }
    return arch_check(r, errstr, errsize);
}

h5archive_reader_t *h5archive_open(MPI_Comm comm, const char *path, char *errstr, size_t errsize)
{
    h5util_quiet();
    int rank = 0, size = 1, rc = 0;
    hid_t fapl = H5I_INVALID_HID;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    h5archive_reader_t *r = calloc(1, sizeof *r);
    if (r) {
        r->comm = comm;
        r->size = size;
        r->fid = r->dxpl = H5I_INVALID_HID;
        for (int c = 0; c < C_COUNT; c++)
            r->dset[c] = H5I_INVALID_HID;
        r->path = strdup(path);
    }
    if (r == NULL || r->path == NULL) {
        h5util_err(errstr, errsize, "%s: out of memory", path);
        rc = -1;
    }

    /* Rank 0 (or the only rank) checks the file serially. */
    if (rc == 0 && rank == 0) {
        rc = h5util_precheck(path, errstr, errsize);
        if (rc == 0) rc = arch_reader_open_file(r, H5P_DEFAULT, errstr, errsize);
        if (size > 1) arch_reader_close_ids(r);
    }
    if (h5util_agree(comm, rc, "an archive step", errstr, errsize)) goto fail;

    if (size > 1) {
        fapl = H5Pcreate(H5P_FILE_ACCESS);
        r->dxpl = H5Pcreate(H5P_DATASET_XFER);
        rc = (fapl < 0 || r->dxpl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
              H5Pset_dxpl_mpio(r->dxpl, H5FD_MPIO_INDEPENDENT) < 0)
                 ? -1
                 : 0;
        if (rc) {
            char why[256];
            h5util_err(errstr, errsize, "%s: cannot set up MPI-IO: %s", path,
                       h5util_reason(why, sizeof why));
        }
        if (h5util_agree(comm, rc, "an archive step", errstr, errsize)) goto fail;
        rc = arch_reader_open_file(r, fapl, errstr, errsize);
        if (h5util_agree(comm, rc, "an archive step", errstr, errsize)) goto fail;
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
    }
    return r;
fail:
    if (fapl >= 0) H5Pclose(fapl);
    h5archive_close_reader(r);
    return NULL;
}

int64_t h5archive_rows(const h5archive_reader_t *r)
{
    return r->info.n_rows;
}

const h5archive_info_t *h5archive_info(const h5archive_reader_t *r)
{
    return &r->info;
}

/* Read column c, rows [first, first + count) (count > 0), into dst.
 * 0 or -1 + errstr. */
static int arch_read_col(h5archive_reader_t *r, int c, int64_t first, int64_t count, void *dst,
                         char *errstr, size_t errsize)
{
    hid_t fspace, mspace;
    int rc = (h5util_select_rows(r->dset[c], first, count, arch_cols[c].kind == K_UUID ? 16 : 1,
                                 &fspace, &mspace) < 0 ||
              H5Dread(r->dset[c], arch_mem_type(arch_cols[c].kind), mspace, fspace,
                      r->dxpl >= 0 ? r->dxpl : H5P_DEFAULT, dst) < 0)
                 ? -1
                 : 0;
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (rc) {
        char why[256];
        h5util_err(errstr, errsize,
                   "%s: reading dataset %s (rows %" PRId64 "..%" PRId64 ") failed: %s", r->path,
                   arch_cols[c].path, first, first + count, h5util_reason(why, sizeof why));
    }
    return rc;
}

/* The first row of column c (an enum) in col[0..n) outside its range, or -1. */
static int64_t arch_bad_enum(int c, const uint8_t *col, size_t n)
{
    unsigned limit = c == C_REGION     ? REGION_COUNT
                     : c == C_MODALITY ? MOD_COUNT
                     : c == C_REASON   ? REASON_COUNT
                                       : STATUS_NOT_PROCESSED + 1;
    for (size_t i = 0; i < n; i++)
        if (col[i] >= limit && !(c == C_STATUS && col[i] == STATUS_NONE)) return (int64_t)i;
    return -1;
}

/* arch_read_col, then the range check of an enum column. 0 or -1 + errstr. */
static int arch_read_checked(h5archive_reader_t *r, int c, int64_t first, int64_t count, void *dst,
                             char *errstr, size_t errsize)
{
    if (arch_read_col(r, c, first, count, dst, errstr, errsize) != 0) return -1;
    if (c != C_REGION && c != C_MODALITY && c != C_STATUS && c != C_REASON) return 0;
    int64_t bad = arch_bad_enum(c, dst, (size_t)count);
    if (bad < 0) return 0;
    h5util_err(errstr, errsize,
               "%s: dataset %s, row %" PRId64 ": value %u is out of range: the archive is damaged",
               r->path, arch_cols[c].path, first + bad, ((const uint8_t *)dst)[bad]);
    return -1;
}

/* Rows per read call: whole chunks of the file, about ARCH_CHUNK_ROWS. */
static int64_t arch_piece_rows(const h5archive_reader_t *r)
{
    int64_t c = r->info.chunk_rows;
    if (c <= 0 || c > (int64_t)ARCH_READ_MAX_PIECE) return (int64_t)ARCH_CHUNK_ROWS;
    return c >= (int64_t)ARCH_CHUNK_ROWS ? c : c * (((int64_t)ARCH_CHUNK_ROWS + c - 1) / c);
}

/* Read rows [first, first + count) into rows[]: pieces that end on chunk
 * boundaries, each read column by column into r->col and then moved into
 * the rows ARCH_TRANSPOSE_ROWS at a time (so rows and cells stay in cache).
 * 0 or -1 + errstr. */
static int arch_read_rows(h5archive_reader_t *r, int64_t first, int64_t count, txn_record_t *rows,
                          char *errstr, size_t errsize)
{
    int64_t piece = r->piece;
    for (int64_t at = first; at < first + count;) {
        int64_t end = (at / piece + 1) * piece;
        if (end > first + count) end = first + count;
        size_t n = (size_t)(end - at);
        txn_record_t *out = rows + (at - first);
        for (int c = 0; c < C_COUNT; c++)
            if (arch_read_checked(r, c, at, (int64_t)n, r->col[c], errstr, errsize) != 0) return -1;
        for (size_t b = 0; b < n; b += ARCH_TRANSPOSE_ROWS) {
            size_t k = n - b < ARCH_TRANSPOSE_ROWS ? n - b : ARCH_TRANSPOSE_ROWS;
            memset(out + b, 0, k * sizeof *out); /* padding bytes too */
            for (int c = 0; c < C_COUNT; c++)
                arch_unpack(c, (const char *)r->col[c] + b * arch_elem_size(arch_cols[c].kind),
                            out + b, k);
        }
        at = end;
    }
    return 0;
}

/* Rows [first, first + count) lie inside the archive: 0, or -1 with errstr. */
static int arch_check_range(const h5archive_reader_t *r, int64_t first, int64_t count, char *errstr,
                            size_t errsize)
{
    if (first >= 0 && count >= 0 && first <= r->info.n_rows && count <= r->info.n_rows - first)
        return 0;
    h5util_err(errstr, errsize,
               "%s: rows %" PRId64 "..%" PRId64 " requested, the archive holds %" PRId64 " rows",
               r->path, first, first + count, r->info.n_rows);
    return -1;
}

int h5archive_read(h5archive_reader_t *r, int64_t first, int64_t count, txn_record_t *rows,
                   char *errstr, size_t errsize)
{
    h5util_quiet();
    int rc = arch_check_range(r, first, count, errstr, errsize);
    if (rc == 0 && count > 0 && r->col[0] == NULL) {
        r->piece = arch_piece_rows(r);
        for (int c = 0; c < C_COUNT && rc == 0; c++)
            if ((r->col[c] = malloc((size_t)r->piece * arch_elem_size(arch_cols[c].kind))) ==
                NULL) {
                h5util_err(errstr, errsize, "%s: out of memory for the read buffers", r->path);
                rc = -1;
            }
    }
    if (rc == 0 && count > 0) rc = arch_read_rows(r, first, count, rows, errstr, errsize);
    return h5util_agree(r->comm, rc, "an archive step", errstr, errsize);
}

int h5archive_read_columns(h5archive_reader_t *r, int64_t first, int64_t count,
                           const h5archive_columns_t *cols, char *errstr, size_t errsize)
{
    void *const dst[C_COUNT] = {
        cols->id,           cols->payer,       cols->receiver, cols->time_us,
        cols->amount_cents, cols->region,      cols->modality, cols->kafka_partition,
        cols->kafka_offset, cols->kafka_ts_ms, cols->batch_id, cols->status,
        cols->reason,       cols->t5,          cols->t6,       cols->t7,
    };
    h5util_quiet();
    int rc = arch_check_range(r, first, count, errstr, errsize);
    for (int c = 0; rc == 0 && count > 0 && c < C_COUNT; c++)
        if (dst[c] != NULL) rc = arch_read_checked(r, c, first, count, dst[c], errstr, errsize);
    return h5util_agree(r->comm, rc, "an archive step", errstr, errsize);
}

void h5archive_close_reader(h5archive_reader_t *r)
{
    if (r == NULL) return;
    h5util_quiet();
    arch_reader_close_ids(r);
    for (int c = 0; c < C_COUNT; c++)
        free(r->col[c]);
    free(r->path);
    free(r);
}
