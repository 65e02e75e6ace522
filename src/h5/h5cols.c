/* h5cols.c - the column tables of the HDF5 files (contract in h5cols.h).
 *
 * Design:
 *   1. A column is a dataset of 1-D (width 1) or 2-D [rows][width] shape;
 *      every column of a table has the same rows, so a row range is one
 *      hyperslab per dataset (h5util_select_rows) and a transfer is one
 *      H5Dread/H5Dwrite per column of the caller's own array, unconverted
 *      (memory and file types agree on little-endian hosts).
 *   2. The table is data: adding a column is one line in the owner's table,
 *      and creation, checking and transfers follow. What is particular to a
 *      file kind (root attributes, checksums, agreement between ranks)
 *      stays in its module.
 *   3. The element type decides the HDF5 types, the size, and the checks at
 *      open (class, size, sign); the width decides the rank. */
#include "h5/h5cols.h"
#include "h5/h5util.h"
#include "base/regions.h"
#include "base/txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t cols_elem_bytes(h5cols_type_t t)
{
    return t == H5COLS_U8 ? 1 : t == H5COLS_I32 ? 4 : 8;
}

static hid_t cols_file_type(h5cols_type_t t)
{
    hid_t types[] = {H5T_STD_U8LE, H5T_STD_I32LE, H5T_STD_I64LE, H5T_IEEE_F64LE};
    return types[t];
}

static hid_t cols_mem_type(h5cols_type_t t)
{
    hid_t types[] = {H5T_NATIVE_UINT8, H5T_NATIVE_INT32, H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE};
    return types[t];
}

size_t h5cols_row_bytes(const h5cols_def_t *d)
{
    return cols_elem_bytes(d->type) * d->width;
}

void *h5cols_col(const h5cols_def_t *d, const void *cols)
{
    return cols ? *(void *const *)((const char *)cols + d->at) : NULL;
}

void h5cols_init(h5cols_set_t *s, const h5cols_table_t *t, const char *file)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->file = file;
    for (int c = 0; c < H5COLS_MAX; c++)
        s->dset[c] = H5I_INVALID_HID;
}

void h5cols_close(h5cols_set_t *s)
{
    for (int c = 0; c < H5COLS_MAX; c++)
        if (s->dset[c] >= 0) {
            H5Dclose(s->dset[c]);
            s->dset[c] = H5I_INVALID_HID;
        }
}

/* ---- creation -------------------------------------------------------------- */

/* Name i of the list an extra attribute joins. */
static const char *cols_name(h5cols_extra_t x, int i)
{
    switch (x) {
    case H5COLS_REGION_CODES:
        return region_table[i].code;
    case H5COLS_MODALITY_NAMES:
        return modality_names[i];
    case H5COLS_STATUS_NAMES:
        return txn_status_names[i];
    default:
        return txn_reason_names[i] ? txn_reason_names[i] : "";
    }
}

/* The extra attribute of column d on dataset ds. 0 or -1. */
static int cols_write_extra(hid_t ds, const h5cols_def_t *d)
{
    if (d->extra == H5COLS_NO_EXTRA) return 0;
    if (d->extra == H5COLS_INT64_MIN) return h5util_attr_i64(ds, d->xname, INT64_MIN);
    int n = d->extra == H5COLS_REGION_CODES     ? REGION_COUNT
            : d->extra == H5COLS_MODALITY_NAMES ? MOD_COUNT
            : d->extra == H5COLS_STATUS_NAMES   ? STATUS_COUNT
                                                : REASON_COUNT;
    char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "",
                                cols_name(d->extra, i));
    return h5util_attr_str(ds, d->xname, buf);
}

int h5cols_create(h5cols_set_t *s, hid_t fid, int64_t rows, char *errstr, size_t errsize)
{
    const h5cols_table_t *t = s->t;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    int rc = lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0 ? 0 : -1;
    for (int c = 0; c < t->ncols && rc == 0; c++) {
        const h5cols_def_t *d = &t->cols[c];
        hsize_t dims[2] = {(hsize_t)rows, d->width}, maxdims[2] = {H5S_UNLIMITED, d->width};
        hsize_t chunk[2] = {(hsize_t)t->chunk_rows, d->width};
        int rank = d->width > 1 ? 2 : 1;
        hid_t space = H5Screate_simple(rank, dims, t->chunk_rows ? maxdims : NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        rc = space < 0 || dcpl < 0 || H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ? -1 : 0;
        if (rc == 0 && t->chunk_rows)
            rc = H5Pset_chunk(dcpl, rank, chunk) < 0 ||
                         ((d->flags & H5COLS_FILTER) &&
                          (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, t->deflate) < 0)) ||
                         (t->fletcher32 && H5Pset_fletcher32(dcpl) < 0)
                     ? -1
                     : 0;
        else if (rc == 0)
            rc = H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0 ||
                         (t->alloc_early && H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0)
                     ? -1
                     : 0;
        if (rc == 0)
            s->dset[c] =
                H5Dcreate2(fid, d->path, cols_file_type(d->type), space, lcpl, dcpl, H5P_DEFAULT);
        if (rc == 0 && (s->dset[c] < 0 || h5util_attr_str(s->dset[c], "units", d->units) < 0 ||
                        h5util_attr_str(s->dset[c], "meaning", d->meaning) < 0 ||
                        cols_write_extra(s->dset[c], d) < 0))
            rc = -1;
        if (rc) {
            char why[256];
            h5util_err(errstr, errsize, "%s: cannot create dataset %s: %s", s->file, d->path,
                       h5util_reason(why, sizeof why));
        }
        if (dcpl >= 0) H5Pclose(dcpl);
        if (space >= 0) H5Sclose(space);
    }
    if (lcpl >= 0) H5Pclose(lcpl);
    if (rc == 0) s->rows = rows;
    return rc;
}

/* ---- opening and checking ------------------------------------------------------ */

/* Whether every link on path exists (a missing group answers 0, not an error). */
static htri_t cols_exists(hid_t fid, const char *path)
{
    char prefix[256];
    htri_t ex = 1;
    for (const char *p = strchr(path + 1, '/'); ex > 0 && p; p = strchr(p + 1, '/')) {
        snprintf(prefix, sizeof prefix, "%.*s", (int)(p - path), path);
        ex = H5Lexists(fid, prefix, H5P_DEFAULT);
    }
    return ex > 0 ? H5Lexists(fid, path, H5P_DEFAULT) : ex;
}

/* Dataset ds of column d has the column's type and shape; sets *rows and
 * *chunk_rows. Returns 0 or -1 with errstr. */
static int cols_check(const h5cols_set_t *s, const h5cols_def_t *d, hid_t ds, hsize_t *rows,
                      int64_t *chunk_rows, char *errstr, size_t errsize)
{
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
    hsize_t dims[2] = {0, 0}, chunk[2] = {0, 0};
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    int type_ok = type >= 0 && H5Tget_size(type) == cols_elem_bytes(d->type);
    if (d->type == H5COLS_F64)
        type_ok = type_ok && cls == H5T_FLOAT;
    else
        type_ok = type_ok && cls == H5T_INTEGER &&
                  H5Tget_sign(type) == (d->type == H5COLS_U8 ? H5T_SGN_NONE : H5T_SGN_2);
    int shape_ok = rank == (d->width > 1 ? 2 : 1) &&
                   H5Sget_simple_extent_dims(space, dims, NULL) == rank &&
                   (d->width == 1 || dims[1] == d->width);
    *chunk_rows = shape_ok && dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
                          H5Pget_chunk(dcpl, 2, chunk) == rank
                      ? (int64_t)chunk[0]
                      : 0;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Eclear2(H5E_DEFAULT);
    *rows = dims[0];
    if (type_ok && shape_ok) return 0;
    const char *names[] = {"uint8", "int32", "int64", "float64"};
    char shape[64];
    snprintf(shape, sizeof shape, d->width > 1 ? "%s[%s][%u]" : "%s[%s]", names[d->type], s->t->dim,
             d->width);
    h5util_err(errstr, errsize,
               "%s: dataset %s has the wrong type or shape (expected %s): not %s, or a damaged one",
               s->file, d->path, shape, s->t->kind);
    return -1;
}

int h5cols_open(h5cols_set_t *s, hid_t fid, int64_t rows, char *errstr, size_t errsize)
{
    const h5cols_table_t *t = s->t;
    for (int c = 0; c < t->ncols; c++) {
        const h5cols_def_t *d = &t->cols[c];
        htri_t ex = cols_exists(fid, d->path);
        if (ex == 0) {
            h5util_err(errstr, errsize, "%s: dataset %s is missing%s%s%s", s->file, d->path,
                       t->missing_says_kind ? ": not " : "", t->missing_says_kind ? t->kind : "",
                       t->missing_says_kind ? ", or a damaged one" : "");
            return -1;
        }
        /* Chunked: room for a few chunks of this column, so that slices cutting
         * through a chunk do not inflate it again on the next read. */
        hid_t dapl = t->chunk_rows ? H5Pcreate(H5P_DATASET_ACCESS) : H5I_INVALID_HID;
        if (dapl >= 0)
            H5Pset_chunk_cache(dapl, 521, 4 * (size_t)t->chunk_rows * h5cols_row_bytes(d), 1.0);
        s->dset[c] = ex < 0 ? -1 : H5Dopen2(fid, d->path, dapl >= 0 ? dapl : H5P_DEFAULT);
        if (dapl >= 0) H5Pclose(dapl);
        if (s->dset[c] < 0) {
            char why[256];
            h5util_err(errstr, errsize, "%s: cannot open dataset %s: %s", s->file, d->path,
                       h5util_reason(why, sizeof why));
            return -1;
        }
        hsize_t n;
        int64_t chunk;
        if (cols_check(s, d, s->dset[c], &n, &chunk, errstr, errsize)) return -1;
        if (c == 0) s->chunk_rows = chunk;
        if (rows < 0 && c == 0) rows = (int64_t)n;
        if (n != (hsize_t)rows) {
            h5util_err(errstr, errsize,
                       "%s: dataset %s has %llu rows but attribute %s says %" PRId64
                       ": %s is damaged",
                       s->file, d->path, (unsigned long long)n, t->rows_attr, rows, t->noun);
            return -1;
        }
    }
    s->rows = rows;
    return 0;
}

/* ---- transfers ------------------------------------------------------------------ */

/* The first cell of enum column d in col[0..n) outside its range, or -1. */
static int64_t cols_bad_enum(const h5cols_def_t *d, const uint8_t *col, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (col[i] >= d->limit && !((d->flags & H5COLS_NONE_OK) && col[i] == 255)) return i;
    return -1;
}

int h5cols_io(h5cols_set_t *s, int writing, hid_t dxpl, int64_t first, int64_t count,
              const void *cols, char *errstr, size_t errsize)
{
    static uint8_t none[16]; /* the cells of an empty selection */
    const h5cols_table_t *t = s->t;
    int extend = writing && t->chunk_rows && first + count > s->rows;
    for (int c = 0; c < t->ncols; c++) {
        const h5cols_def_t *d = &t->cols[c];
        void *data = count ? h5cols_col(d, cols) : none;
        if (data == NULL) continue;
        hsize_t size[2] = {(hsize_t)(first + count), d->width};
        hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
        int rc = extend && H5Dset_extent(s->dset[c], size) < 0 ? -1 : 0;
        if (rc == 0) rc = h5util_select_rows(s->dset[c], first, count, d->width, &fspace, &mspace);
        hid_t mtype = cols_mem_type(d->type);
        if (rc == 0)
            rc = (writing ? H5Dwrite(s->dset[c], mtype, mspace, fspace, dxpl, data)
                          : H5Dread(s->dset[c], mtype, mspace, fspace, dxpl, data)) < 0
                     ? -1
                     : 0;
        char why[256] = "";
        if (rc) h5util_reason(why, sizeof why); /* before another call clears the stack */
        if (mspace >= 0) H5Sclose(mspace);
        if (fspace >= 0) H5Sclose(fspace);
        if (rc) {
            h5util_err(
                errstr, errsize, "%s: %s dataset %s (rows %" PRId64 "..%" PRId64 ") failed: %s%s",
                s->file, writing ? "writing" : "reading", d->path, first, first + count, why,
                !writing && t->fletcher32 ? " (a checksum mismatch means the file is damaged)"
                                          : "");
            return -1;
        }
        int64_t bad = !writing && d->limit ? cols_bad_enum(d, data, count) : -1;
        if (bad >= 0) {
            h5util_err(errstr, errsize,
                       "%s: dataset %s, row %" PRId64 ": value %u is out of range: %s is damaged",
                       s->file, d->path, first + bad, ((const uint8_t *)data)[bad], t->noun);
            return -1;
        }
    }
    if (extend) s->rows = first + count;
    return 0;
}

int h5cols_offsets(const h5cols_set_t *s, int64_t *offsets)
{
    const h5cols_table_t *t = s->t;
    if (t->chunk_rows) return -1;
    for (int c = 0; c < t->ncols; c++) {
        if (s->dset[c] < 0) return -1;
        haddr_t at = H5Dget_offset(s->dset[c]);
        hid_t ft = H5Dget_type(s->dset[c]);
        int same = ft >= 0 && H5Tequal(ft, cols_mem_type(t->cols[c].type)) > 0;
        if (ft >= 0) H5Tclose(ft);
        if (at == HADDR_UNDEF || !same) {
            H5Eclear2(H5E_DEFAULT);
            return -1;
        }
        offsets[c] = (int64_t)at;
    }
    return 0;
}

/* ---- column buffers --------------------------------------------------------------- */

int h5cols_alloc(const h5cols_table_t *t, void *cols, size_t rows)
{
    int rc = 0;
    for (int c = 0; c < t->ncols; c++) {
        void **p = (void **)((char *)cols + t->cols[c].at);
        *p = h5util_big_alloc((rows ? rows : 1) * h5cols_row_bytes(&t->cols[c]));
        if (*p == NULL) rc = -1;
    }
    if (rc) h5cols_free(t, cols);
    return rc;
}

void h5cols_free(const h5cols_table_t *t, void *cols)
{
    for (int c = 0; c < t->ncols; c++) {
        void **p = (void **)((char *)cols + t->cols[c].at);
        free(*p);
        *p = NULL;
    }
}
