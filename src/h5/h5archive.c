/* h5archive.c - the columnar HDF5 transaction archive (layout and contract in
 * h5archive.h).
 *
 * Design:
 *   1. Columns, not records: each field is its own 1-D dataset (the UUIDs
 *      [n][16]), so h5dump and h5py show plain typed arrays and a reader takes
 *      any slice of rows as one hyperslab per dataset. The column table
 *      (arch_table, h5cols.h) drives creation, checking, writing and reading.
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
 *      driver; h5archive_close flushes, then publishes it under its final
 *      name in one step (h5util_publish: close, fsync, rename, fsync the
 *      directory). Metadata is in the 1.8 format (libver bounds V18), which
 *      checksums object headers, so damage there fails at open.
 *   5. Readers: rank 0 checks the file serially first (precheck, kind,
 *      version, every dataset), then every rank opens it with MPI-IO and reads
 *      with independent transfers: HDF5 1.10.8's collective transfers of
 *      chunked, filtered datasets measured 4-5x slower (6.5 CPU s against
 *      1.5 for the table above at -np 2). Each collective step ends in
 *      h5util_agree(), so all ranks return the same code and message.
 *
 * State of a writer: created (PATH.partial open, no rows) -> appending (rows
 * buffered, whole chunks in the file) -> closed (h5archive_close: published
 * as PATH or the final name given)
 * or aborted (h5archive_abort, or a failed close: .partial removed). */
#include "h5/h5archive.h"
#include "h5/h5cols.h"
#include "h5/h5util.h"
#include "base/regions.h"
#include "base/timeparse.h"

#include <hdf5.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rows per chunk (see design note 3). */
#define ARCH_CHUNK_ROWS     ((size_t)65536)
#define ARCH_READ_MAX_PIECE ((size_t)1 << 20) /* bigger chunks (foreign writers) read in pieces */
#define ARCH_TRANSPOSE_ROWS ((size_t)512)
#define ARCH_KIND           "a bankstream transaction archive" /* in attribute errors */

/* ---- the columns ---------------------------------------------------------- */

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

#define COL(field) offsetof(h5archive_columns_t, field)
#define F          H5COLS_FILTER

static const h5cols_def_t arch_defs[C_COUNT] = {
    {"/transactions/id", H5COLS_U8, 16, 0, 0, "bytes",
     "transaction UUID (id_transacao), 16 bytes in RFC 4122 order", NULL, H5COLS_NO_EXTRA, COL(id)},
    {"/transactions/payer", H5COLS_U8, 16, 0, 0, "bytes",
     "paying user's UUID (id_usuario_pagador), 16 bytes in RFC 4122 order", NULL, H5COLS_NO_EXTRA,
     COL(payer)},
    {"/transactions/receiver", H5COLS_U8, 16, 0, 0, "bytes",
     "receiving user's UUID (id_usuario_recebedor), 16 bytes in RFC 4122 order", NULL,
     H5COLS_NO_EXTRA, COL(receiver)},
    {"/transactions/time_us", H5COLS_I64, 1, F, 0, "microseconds since 1970-01-01 UTC",
     "data_horario of the transaction", NULL, H5COLS_NO_EXTRA, COL(time_us)},
    {"/transactions/amount_cents", H5COLS_I64, 1, F, 0, "centavos (BRL / 100)", "valor_transacao",
     NULL, H5COLS_NO_EXTRA, COL(amount_cents)},
    {"/transactions/region", H5COLS_U8, 1, F, REGION_COUNT, "index",
     "id_regiao: index into the comma-separated attribute codes, 0 = AC", "codes",
     H5COLS_REGION_CODES, COL(region)},
    {"/transactions/modality", H5COLS_U8, 1, F, MOD_COUNT, "index",
     "modalidade_pagamento: index into the comma-separated attribute names, 0 = PIX", "names",
     H5COLS_MODALITY_NAMES, COL(modality)},
    {"/transactions/kafka_partition", H5COLS_I32, 1, F, 0, "partition",
     "Kafka partition the message was read from; -1 = not from Kafka (produce)", NULL,
     H5COLS_NO_EXTRA, COL(kafka_partition)},
    {"/transactions/kafka_offset", H5COLS_I64, 1, F, 0, "offset",
     "Kafka offset of the message in its partition; -1 = not from Kafka (produce)", NULL,
     H5COLS_NO_EXTRA, COL(kafka_offset)},
    {"/transactions/kafka_ts_ms", H5COLS_I64, 1, F, 0, "milliseconds since 1970-01-01 UTC",
     "broker timestamp of the message; for produce, data_horario in milliseconds", NULL,
     H5COLS_NO_EXTRA, COL(kafka_ts_ms)},
    {"/transactions/batch_id", H5COLS_I64, 1, F, 0, "batch",
     "micro-batch that decided the transaction; 0 = none (produce)", NULL, H5COLS_NO_EXTRA,
     COL(batch_id)},
    {"/results/status", H5COLS_U8, 1, F | H5COLS_NONE_OK, STATUS_COUNT, "code",
     "0 = aprovada, 1 = rejeitada, 2 = nao_processada, 255 = not decided (produce)", "names",
     H5COLS_STATUS_NAMES, COL(status)},
    {"/results/reason", H5COLS_U8, 1, F, REASON_COUNT, "code",
     "reason of a rejection or non-processing: index into the comma-separated attribute "
     "names; 0 = none",
     "names", H5COLS_REASON_NAMES, COL(reason)},
    {"/results/t5", H5COLS_F64, 1, F, 0, "1",
     "risk factor t5 (distance between home region and transaction region); NaN = not scored", NULL,
     H5COLS_NO_EXTRA, COL(t5)},
    {"/results/t6", H5COLS_F64, 1, F, 0, "1",
     "risk factor t6 (amount above the threshold); NaN = not scored", NULL, H5COLS_NO_EXTRA,
     COL(t6)},
    {"/results/t7", H5COLS_F64, 1, F, 0, "1", "risk factor t7 (hour of day); NaN = not scored",
     NULL, H5COLS_NO_EXTRA, COL(t7)},
};

#undef COL
#undef F

static const h5cols_table_t arch_table = {
    arch_defs, C_COUNT,   ARCH_CHUNK_ROWS, 1, /* deflate level */
    0,         ARCH_KIND, "the archive",   "n_rows", "n", 0, 1 /* fletcher32 */};

/* Where column c lives in a row. */
static const size_t arch_rec_off[C_COUNT] = {
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

/* rows[0..n) -> column c's cells at..at+n of the arrays in cols. */
static void arch_pack(int c, const txn_record_t *rows, size_t n, const h5archive_columns_t *cols,
                      size_t at)
{
    size_t sz = h5cols_row_bytes(&arch_defs[c]), off = arch_rec_off[c];
    char *dst = (char *)h5cols_col(&arch_defs[c], cols) + at * sz;
    for (size_t i = 0; i < n; i++)
        memcpy(dst + i * sz, (const char *)&rows[i] + off, sz);
}

/* Column c's cells col[0..n) -> rows[0..n). One loop per element size, so
 * that each memcpy is a single move. */
static void arch_unpack(int c, const void *col, txn_record_t *rows, size_t n)
{
    size_t off = arch_rec_off[c];
    const char *src = col;
    switch (h5cols_row_bytes(&arch_defs[c])) {
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
    hid_t fid;
    h5cols_set_t cols;       /* cols.rows: rows in the file */
    h5archive_columns_t buf; /* ARCH_CHUNK_ROWS cells each */
    size_t nbuf;             /* rows buffered, not yet in the file */
    int is_produce;
    int failed; /* a write failed: only abort is left */
    int64_t first_batch, last_batch;
};

static void arch_writer_free(h5archive_writer_t *w)
{
    h5cols_free(&arch_table, &w->buf);
    free(w->path);
    free(w->partial);
    free(w);
}

/* The root attributes and the layout: /transactions (with attribute
 * chunk_rows) and every dataset, empty. Returns 0 or -1 with errstr. */
static int arch_create_layout(h5archive_writer_t *w, const char *source, const char *topic,
                              uint64_t seed, char *errstr, size_t errsize)
{
    char why[256];
    int rc = (h5util_attr_i32(w->fid, "format_version", H5ARCHIVE_FORMAT_VERSION) < 0 ||
              h5util_attr_str(w->fid, "kind", H5ARCHIVE_KIND) < 0 ||
              h5util_attr_created(w->fid, timeparse_now_us()) < 0 ||
              h5util_attr_str(w->fid, "source", source) < 0 ||
              h5util_attr_str(w->fid, "topic", topic) < 0 ||
              h5util_attr_i64(w->fid, "first_batch_id", -1) < 0 ||
              h5util_attr_i64(w->fid, "last_batch_id", -1) < 0 ||
              h5util_attr_i64(w->fid, "n_rows", 0) < 0 ||
              (w->is_produce && h5util_attr_u64(w->fid, "seed", seed) < 0))
                 ? -1
                 : 0;
    if (rc) {
        h5util_err(errstr, errsize, "%s: cannot write the root attributes: %s", w->partial,
                   h5util_reason(why, sizeof why));
        return -1;
    }
    hid_t g = H5Gcreate2(w->fid, "transactions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = g < 0 || h5util_attr_i64(g, "chunk_rows", (int64_t)ARCH_CHUNK_ROWS) < 0 ? -1 : 0;
    if (g >= 0) H5Gclose(g);
    if (rc) {
        h5util_err(errstr, errsize, "%s: cannot create group /transactions: %s", w->partial,
                   h5util_reason(why, sizeof why));
        return -1;
    }
    return h5cols_create(&w->cols, w->fid, 0, errstr, errsize);
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
    w->is_produce = strcmp(source, "produce") == 0;
    w->first_batch = w->last_batch = -1;
    size_t plen = strlen(path);
    w->path = strdup(path);
    w->partial = malloc(plen + sizeof ".partial");
    if (!w->path || !w->partial || h5cols_alloc(&arch_table, &w->buf, ARCH_CHUNK_ROWS) != 0) {
        h5util_err(errstr, errsize, "%s: out of memory for the archive buffers", path);
        arch_writer_free(w);
        return NULL;
    }
    memcpy(w->partial, path, plen);
    memcpy(w->partial + plen, ".partial", sizeof ".partial");
    h5cols_init(&w->cols, &arch_table, w->partial);

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
    if (arch_create_layout(w, source, topic, seed, errstr, errsize) != 0) goto fail;
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
    if (h5cols_io(&w->cols, 1, H5P_DEFAULT, w->cols.rows, (int64_t)w->nbuf, &w->buf, errstr,
                  errsize) != 0) {
        w->failed = 1;
        return -1;
    }
    w->nbuf = 0;
    return 0;
}

/* Check one row's enum columns; returns NULL or the dataset at fault. */
static const char *arch_row_bad(const txn_record_t *r)
{
    if (r->txn.region >= REGION_COUNT) return arch_defs[C_REGION].path;
    if (r->txn.modality >= MOD_COUNT) return arch_defs[C_MODALITY].path;
    if (r->status > STATUS_NOT_PROCESSED && r->status != STATUS_NONE)
        return arch_defs[C_STATUS].path;
    if (r->reason >= REASON_COUNT) return arch_defs[C_REASON].path;
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
                       w->partial, w->cols.rows + (int64_t)(w->nbuf + i), bad);
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
            arch_pack(c, rows + done, take, &w->buf, w->nbuf);
        w->nbuf += take;
        done += take;
        if (w->nbuf == ARCH_CHUNK_ROWS && arch_flush(w, errstr, errsize) != 0) return -1;
    }
    return 0;
}

int64_t h5archive_writer_rows(const h5archive_writer_t *w)
{
    return w->cols.rows + (int64_t)w->nbuf;
}

int h5archive_close(h5archive_writer_t *w, const char *final_path, char *errstr, size_t errsize)
{
    if (w == NULL) return 0;
    h5util_quiet();
    int rc = w->failed ? -1 : 0;
    if (rc)
        h5util_err(errstr, errsize, "%s: an earlier write failed; the archive was not published",
                   w->partial);
    if (rc == 0) rc = arch_flush(w, errstr, errsize);
    if (rc == 0 && (arch_attr_set_i64(w->fid, "n_rows", w->cols.rows) < 0 ||
                    arch_attr_set_i64(w->fid, "first_batch_id", w->first_batch) < 0 ||
                    arch_attr_set_i64(w->fid, "last_batch_id", w->last_batch) < 0)) {
        char why[256];
        h5util_err(errstr, errsize, "%s: cannot update the root attributes: %s", w->partial,
                   h5util_reason(why, sizeof why));
        rc = -1;
    }
    if (rc == 0) {
        h5cols_close(&w->cols);
        rc = h5util_publish(w->fid, w->partial, final_path ? final_path : w->path, errstr, errsize);
        w->fid = H5I_INVALID_HID; /* closed, or failed to close: not to be closed again */
    }
    if (rc) {
        h5archive_abort(w);
        return -1;
    }
    arch_writer_free(w);
    return 0;
}

void h5archive_abort(h5archive_writer_t *w)
{
    if (w == NULL) return;
    h5util_quiet();
    h5cols_close(&w->cols);
    if (w->fid >= 0) H5Fclose(w->fid);
    H5Eclear2(H5E_DEFAULT);
    if (w->partial) unlink(w->partial);
    arch_writer_free(w);
}

/* ---- reader ----------------------------------------------------------------- */

struct h5archive_reader {
    MPI_Comm comm;
    int size;
    int local; /* h5archive_open_local: each rank's own handle, reads not agreed */
    char *path;
    hid_t fid, dxpl;
    h5cols_set_t cols;
    h5archive_info_t info;
    int64_t piece;           /* rows per H5Dread: whole file chunks */
    h5archive_columns_t col; /* piece cells of each column, allocated on first read */
};

/* Check the open file r->fid and read its root attributes: kind and format
 * version first (so foreign files and newer formats get their own message),
 * then every attribute and dataset, which stay open in r. Returns 0 or -1
 * with errstr naming the file and the object at fault. */
static int arch_check(h5archive_reader_t *r, char *errstr, size_t errsize)
{
    const char *p = r->path;
    h5archive_info_t *in = &r->info;
    char kind[64] = "";
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
    if (h5cols_open(&r->cols, r->fid, in->n_rows, errstr, errsize)) return -1;
    in->chunk_rows = r->cols.chunk_rows;
    return 0;
}

static void arch_reader_close_ids(h5archive_reader_t *r)
{
    h5cols_close(&r->cols);
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

/* h5archive_open and h5archive_open_local: local selects one serial
 * handle per rank. */
static h5archive_reader_t *arch_open(MPI_Comm comm, const char *path, int local, char *errstr,
                                     size_t errsize)
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
        r->local = local;
        r->fid = r->dxpl = H5I_INVALID_HID;
        r->path = strdup(path);
        h5cols_init(&r->cols, &arch_table, r->path);
    }
    if (r == NULL || r->path == NULL) {
        h5util_err(errstr, errsize, "%s: out of memory", path);
        rc = -1;
    }

    /* Rank 0 (or the only rank) checks the file serially. */
    if (rc == 0 && rank == 0) {
        rc = h5util_precheck(path, errstr, errsize);
        if (rc == 0) rc = arch_reader_open_file(r, H5P_DEFAULT, errstr, errsize);
        if (size > 1 && !local) arch_reader_close_ids(r);
    }
    if (h5util_agree(comm, rc, "an archive step", errstr, errsize)) goto fail;

    if (size > 1 && local) { /* the others open it serially too, each its own handle */
        if (rank != 0) rc = arch_reader_open_file(r, H5P_DEFAULT, errstr, errsize);
        if (h5util_agree(comm, rc, "an archive step", errstr, errsize)) goto fail;
    } else if (size > 1) {
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

h5archive_reader_t *h5archive_open(MPI_Comm comm, const char *path, char *errstr, size_t errsize)
{
    return arch_open(comm, path, 0, errstr, errsize);
}

h5archive_reader_t *h5archive_open_local(MPI_Comm comm, const char *path, char *errstr,
                                         size_t errsize)
{
    return arch_open(comm, path, 1, errstr, errsize);
}

int64_t h5archive_rows(const h5archive_reader_t *r)
{
    return r->info.n_rows;
}

const h5archive_info_t *h5archive_info(const h5archive_reader_t *r)
{
    return &r->info;
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
    hid_t dxpl = r->dxpl >= 0 ? r->dxpl : H5P_DEFAULT;
    for (int64_t at = first; at < first + count;) {
        int64_t end = (at / piece + 1) * piece;
        if (end > first + count) end = first + count;
        size_t n = (size_t)(end - at);
        txn_record_t *out = rows + (at - first);
        if (h5cols_io(&r->cols, 0, dxpl, at, (int64_t)n, &r->col, errstr, errsize) != 0) return -1;
        for (size_t b = 0; b < n; b += ARCH_TRANSPOSE_ROWS) {
            size_t k = n - b < ARCH_TRANSPOSE_ROWS ? n - b : ARCH_TRANSPOSE_ROWS;
            memset(out + b, 0, k * sizeof *out); /* padding bytes too */
            for (int c = 0; c < C_COUNT; c++)
                arch_unpack(c,
                            (const char *)h5cols_col(&arch_defs[c], &r->col) +
                                b * h5cols_row_bytes(&arch_defs[c]),
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
    if (rc == 0 && count > 0 && r->col.id == NULL) {
        r->piece = arch_piece_rows(r);
        rc = h5cols_alloc(&arch_table, &r->col, (size_t)r->piece);
        if (rc) h5util_err(errstr, errsize, "%s: out of memory for the read buffers", r->path);
    }
    if (rc == 0 && count > 0) rc = arch_read_rows(r, first, count, rows, errstr, errsize);
    if (r->local) return rc;
    return h5util_agree(r->comm, rc, "an archive step", errstr, errsize);
}

int h5archive_read_columns(h5archive_reader_t *r, int64_t first, int64_t count,
                           const h5archive_columns_t *cols, char *errstr, size_t errsize)
{
    h5util_quiet();
    int rc = arch_check_range(r, first, count, errstr, errsize);
    if (rc == 0 && count > 0)
        rc = h5cols_io(&r->cols, 0, r->dxpl >= 0 ? r->dxpl : H5P_DEFAULT, first, count, cols,
                       errstr, errsize);
    if (r->local) return rc;
    return h5util_agree(r->comm, rc, "an archive step", errstr, errsize);
}

void h5archive_close_reader(h5archive_reader_t *r)
{
    if (r == NULL) return;
    h5util_quiet();
    arch_reader_close_ids(r);
    h5cols_free(&arch_table, &r->col);
    free(r->path);
    free(r);
}
