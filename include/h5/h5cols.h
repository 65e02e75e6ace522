/* h5cols.h - one table type for the columns of bankstream's HDF5 files
 * (snapshots, archives, replay results) and the per-column work on them:
 * create every dataset with its attributes, open and check every dataset,
 * read or write rows [first, first + count) of any subset of the columns.
 *
 * A table is static data of the module that owns the file kind. Per column:
 * the dataset's full path, its element type and width, its `units` and
 * `meaning` attributes (and at most one more, generated from base/'s
 * tables), the range of an enum column, and where the column's array lives
 * in the caller's struct of column pointers (offsetof). Per table: how the
 * datasets are stored (contiguous and of a size fixed at creation, or
 * chunked, extensible and optionally filtered) and how messages name a
 * file of this kind.
 *
 * A set (h5cols_set_t) is one table's datasets in one open file. Nothing
 * here communicates: a collective transfer is chosen by the dxpl the caller
 * passes, and agreeing on an error across ranks is the caller's
 * (h5util_agree). Errors come back as one line naming the file and the
 * dataset. */
#ifndef BS_H5COLS_H
#define BS_H5COLS_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#define H5COLS_MAX 16 /* columns of the widest table (the archive) */

typedef enum h5cols_type { H5COLS_U8, H5COLS_I32, H5COLS_I64, H5COLS_F64 } h5cols_type_t;

/* A further attribute of a dataset, its value generated from base/'s tables. */
typedef enum h5cols_extra {
    H5COLS_NO_EXTRA,
    H5COLS_REGION_CODES,   /* "AC,AL,...": the 27 UF codes, comma-separated */
    H5COLS_MODALITY_NAMES, /* "PIX,TED,DOC,Boleto" */
    H5COLS_STATUS_NAMES,   /* "aprovada,rejeitada,nao_processada" */
    H5COLS_REASON_NAMES,   /* ",saldo_insuficiente,...": index 0 (none) is empty */
    H5COLS_INT64_MIN,      /* the int64 INT64_MIN (a "none" marker) */
} h5cols_extra_t;

#define H5COLS_FILTER  1u /* chunked tables: shuffle + deflate this column */
#define H5COLS_NONE_OK 2u /* enum column: 255 (STATUS_NONE) is valid too */

typedef struct h5cols_def {
    const char *path;     /* full path, "/users/balance_cents" */
    h5cols_type_t type;   /* element type (little-endian in the file) */
    unsigned width;       /* elements per row: 1 = 1-D dataset, else [rows][width] */
    unsigned flags;       /* H5COLS_FILTER, H5COLS_NONE_OK */
    unsigned limit;       /* U8 enum column: values >= limit fail at read; 0 = unchecked */
    const char *units;    /* attribute units */
    const char *meaning;  /* attribute meaning */
    const char *xname;    /* name of the extra attribute (when extra is set) */
    h5cols_extra_t extra; /* its value */
    size_t at;            /* offsetof the column's array pointer in the caller's struct */
} h5cols_def_t;

typedef struct h5cols_table {
    const h5cols_def_t *cols;
    int ncols;             /* <= H5COLS_MAX */
    int64_t chunk_rows;    /* 0: contiguous, rows fixed at creation; else rows per chunk,
                            * datasets extensible (and a read cache of 4 chunks each) */
    int deflate;           /* deflate level of H5COLS_FILTER columns */
    int alloc_early;       /* contiguous: allocate the space at creation */
    const char *kind;      /* what a foreign file is not: "a bankstream snapshot" */
    const char *noun;      /* what is damaged: "the snapshot" */
    const char *rows_attr; /* root attribute with the row count ("n_users"), for messages */
    const char *dim;       /* the row count in shapes: "n" in "int64[n][4]" */
    int missing_says_kind; /* "dataset X is missing: not KIND, or a damaged one" */
    int fletcher32;        /* chunked tables: a checksum per chunk of every column, so that a
                            * damaged chunk fails its read instead of giving other data */
} h5cols_table_t;

/* One table's datasets in one open file. */
typedef struct h5cols_set {
    const h5cols_table_t *t;
    const char *file;       /* named in messages; the caller keeps it alive */
    int64_t rows;           /* rows of every dataset */
    int64_t chunk_rows;     /* after h5cols_open: rows per chunk of the first dataset, 0 = none */
    hid_t dset[H5COLS_MAX]; /* H5I_INVALID_HID when not open */
} h5cols_set_t;

/* A set of table t with nothing open, for the file named `file`. */
void h5cols_init(h5cols_set_t *s, const h5cols_table_t *t, const char *file);

/* Create every dataset of the table in fid (groups as needed) with `rows`
 * rows (chunked tables: the initial extent), fill values never written, and
 * its units, meaning and extra attributes. Returns 0 with every dataset
 * open in s, or -1 with errstr "FILE: cannot create dataset PATH: reason"
 * (the datasets created so far stay open: h5cols_close them). */
int h5cols_create(h5cols_set_t *s, hid_t fid, int64_t rows, char *errstr, size_t errsize);

/* Open every dataset of the table in fid and check it: present ("FILE:
 * dataset PATH is missing"), of the column's type class, size and sign and
 * its rank and width ("... has the wrong type or shape (expected
 * int64[n][4]): not KIND, or a damaged one") and of `rows` rows ("... has R
 * rows but attribute ROWS_ATTR says N: NOUN is damaged"); rows < 0: any,
 * s->rows is then the first dataset's. Returns 0 with every dataset open
 * and s->rows, s->chunk_rows set, or -1 with errstr (what was opened stays
 * open: h5cols_close it). */
int h5cols_open(h5cols_set_t *s, hid_t fid, int64_t rows, char *errstr, size_t errsize);

/* Read (writing 0) or write rows [first, first + count) of the columns whose
 * array in `cols` (the caller's struct of column pointers; cell i is row
 * first + i) is not NULL, one H5Dread/H5Dwrite per column with transfer
 * list dxpl. count 0 transfers an empty selection of every column (cols may
 * then be NULL), so that a rank can take part in a collective transfer with
 * nothing. A write past the end of a chunked table extends it first. A
 * read checks the enum columns (limit), failing with "FILE: dataset PATH,
 * row R: value V is out of range: NOUN is damaged". Returns 0, or -1 with
 * errstr "FILE: reading dataset PATH (rows A..B) failed: reason"; the cells
 * are then unspecified. */
int h5cols_io(h5cols_set_t *s, int writing, hid_t dxpl, int64_t first, int64_t count,
              const void *cols, char *errstr, size_t errsize);

/* Where the data of every dataset of s starts in the file, for writers that
 * put rows there themselves (pwrite at offsets[c] + row *
 * h5cols_row_bytes): 0, or -1 when a dataset has no such place (chunked,
 * space not yet allocated) or its type in the file is not the host's in
 * memory (byte order). */
int h5cols_offsets(const h5cols_set_t *s, int64_t *offsets);

/* Close every open dataset of s (the file is the caller's). */
void h5cols_close(h5cols_set_t *s);

/* Column d's array in the caller's struct of column pointers. */
void *h5cols_col(const h5cols_def_t *d, const void *cols);

/* Bytes of one row of column d. */
size_t h5cols_row_bytes(const h5cols_def_t *d);

/* Give every column of t an array of `rows` (at least 1) rows in the
 * caller's struct (h5util_big_alloc). Returns 0, or -1 (out of memory) with
 * every array freed and NULL. Free with h5cols_free (NULL-safe per array). */
int h5cols_alloc(const h5cols_table_t *t, void *cols, size_t rows);
void h5cols_free(const h5cols_table_t *t, void *cols);

#endif
