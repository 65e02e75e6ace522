/* test_h5results.c - the replay results file: rows written in calls of every
 * size (0 and 1 included, in any order) read back bit for bit with plain
 * H5Dread (NaN payloads, -0.0, infinities, subnormals), the root and dataset
 * attributes, the layout (contiguous, unfiltered), the atomic publish
 * (.partial), abort, a stale .partial, and the errors (range outside the
 * file, bad values, a path that cannot be created), each naming the file.
 *
 * Run as a plain binary: every test on one rank. Run under
 *   mpirun -np 3 --oversubscribe build/tests/test_h5results
 * it runs test_parallel only, collectively over MPI_COMM_WORLD (MPI-IO):
 * each rank writes its own slice of every window, some ranks none, and rank
 * 0 reads the published file back serially. */
#include "h5/h5results.h"
#include "engine/rules.h"

#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static char tmpdir[64] = "/tmp/test_h5results.XXXXXX";

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- rows: a pure function of the row number, so any rank makes any row -- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double bits_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* Special values, NaNs with payloads and signs included; then plain ones. */
static double score(uint64_t h)
{
    switch (h % 16) {
    case 0:
        return NAN;
    case 1:
        return bits_double(0xfff8000000000001ULL); /* negative quiet NaN, payload 1 */
    case 2:
        return bits_double(0x7ff0000000000001ULL); /* signalling NaN */
    case 3:
        return INFINITY;
    case 4:
        return -INFINITY;
    case 5:
        return -0.0;
    case 6:
        return 4.9e-324; /* smallest subnormal */
    case 7:
        return -2.2250738585072009e-308; /* largest negative subnormal */
    case 8:
        return 1.7976931348623157e308;
    default:
        return (double)(h >> 11) / 9007199254740992.0;
    }
}

typedef struct rows {
    size_t n;
    uint8_t (*id)[16];
    int64_t *batch;
    uint8_t *status, *reason;
    double *t5, *t6, *t7;
} rows_t;

static void rows_make(rows_t *r, size_t n)
{
    static const int64_t edges[] = {INT64_MIN, INT64_MAX, 0, -1};
    size_t k = n ? n : 1;
    r->n = n;
    r->id = calloc(k, sizeof *r->id);
    r->batch = calloc(k, sizeof *r->batch);
    r->status = calloc(k, 1);
    r->reason = calloc(k, 1);
    r->t5 = calloc(k, sizeof(double));
    r->t6 = calloc(k, sizeof(double));
    r->t7 = calloc(k, sizeof(double));
    assert_true(r->id && r->batch && r->status && r->reason && r->t5 && r->t6 && r->t7);
    for (size_t i = 0; i < n; i++) {
        uint64_t a = mix(2 * i), b = mix(2 * i + 1);
        memcpy(r->id[i], &a, 8);
        memcpy(r->id[i] + 8, &b, 8);
        if (i % 101 == 0) memset(r->id[i], 0xff, 16);
        r->batch[i] = i % 13 == 0 ? edges[(i / 13) % 4] : (int64_t)(i / 100);
        r->status[i] = (uint8_t)(a % 3);
        r->reason[i] = (uint8_t)(b % REASON_COUNT);
        r->t5[i] = score(mix(a));
        r->t6[i] = score(mix(b));
        r->t7[i] = score(mix(a ^ b));
    }
}

static void rows_free(rows_t *r)
{
    free(r->id);
    free(r->batch);
    free(r->status);
    free(r->reason);
    free(r->t5);
    free(r->t6);
    free(r->t7);
}

/* The columns of rows [first, ...) of r. */
static h5results_columns_t cols_at(const rows_t *r, size_t first)
{
    h5results_columns_t c = {(const uint8_t(*)[16])r->id + first,
                             r->batch + first,
                             r->status + first,
                             r->reason + first,
                             r->t5 + first,
                             r->t6 + first,
                             r->t7 + first};
    return c;
}

/* ---- reading back with plain HDF5 ----------------------------------------- */

/* Dataset name of f: check its type, shape (n or n x 16), layout (contiguous,
 * no filters) and attributes units/meaning, then H5Dread all of it and
 * compare with want bit for bit. */
static void check_dataset(hid_t f, const char *name, hid_t mtype, H5T_class_t cls, size_t size,
                          int two, const void *want, size_t n)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) fail_msg("dataset %s missing", name);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), p = H5Dget_create_plist(d);
    assert_int_equal(H5Tget_class(t), cls);
    assert_int_equal(H5Tget_size(t), two ? 1 : size);
    assert_int_equal(H5Tget_order(t), H5T_ORDER_LE);
    hsize_t dims[2] = {0, 0};
    assert_int_equal(H5Sget_simple_extent_ndims(s), two ? 2 : 1);
    H5Sget_simple_extent_dims(s, dims, NULL);
    assert_int_equal(dims[0], n);
    if (two) assert_int_equal(dims[1], 16);
    assert_int_equal(H5Pget_layout(p), H5D_CONTIGUOUS);
    assert_int_equal(H5Pget_nfilters(p), 0);
    assert_true(H5Aexists(d, "units") > 0);
    assert_true(H5Aexists(d, "meaning") > 0);
    size_t bytes = n * size;
    void *got = malloc(bytes ? bytes : 1);
    assert_non_null(got);
    if (n > 0) {
        assert_true(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
        if (memcmp(got, want, bytes) != 0) {
            size_t i = 0;
            while (memcmp((char *)got + i * size, (const char *)want + i * size, size) == 0)
                i++;
            fail_msg("%s: row %zu differs", name, i);
        }
    }
    free(got);
    H5Pclose(p);
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
}

static void check_file_rows(const char *path, const rows_t *r)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) fail_msg("%s does not open", path);
    check_dataset(f, "/transactions/id", H5T_NATIVE_UINT8, H5T_INTEGER, 16, 1, r->id, r->n);
    check_dataset(f, "/results/batch_id", H5T_NATIVE_INT64, H5T_INTEGER, 8, 0, r->batch, r->n);
    check_dataset(f, "/results/status", H5T_NATIVE_UINT8, H5T_INTEGER, 1, 0, r->status, r->n);
    check_dataset(f, "/results/reason", H5T_NATIVE_UINT8, H5T_INTEGER, 1, 0, r->reason, r->n);
    check_dataset(f, "/results/t5", H5T_NATIVE_DOUBLE, H5T_FLOAT, 8, 0, r->t5, r->n);
    check_dataset(f, "/results/t6", H5T_NATIVE_DOUBLE, H5T_FLOAT, 8, 0, r->t6, r->n);
    check_dataset(f, "/results/t7", H5T_NATIVE_DOUBLE, H5T_FLOAT, 8, 0, r->t7, r->n);
    H5Fclose(f);
}

static int64_t attr_i64(hid_t obj, const char *name)
{
    int64_t v = -12345;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) fail_msg("attribute %s missing", name);
    assert_true(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    return v;
}

/* A string attribute, malloc'd. */
static char *attr_str(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) fail_msg("attribute %s missing", name);
    hid_t t = H5Aget_type(a);
    assert_int_equal(H5Tget_class(t), H5T_STRING);
    assert_int_equal(H5Tis_variable_str(t), 0);
    size_t n = H5Tget_size(t);
    char *s = calloc(1, n + 1);
    assert_non_null(s);
    assert_true(H5Aread(a, t, s) >= 0);
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

static void assert_attr_str(hid_t obj, const char *name, const char *want)
{
    char *s = attr_str(obj, name);
    if (strcmp(s, want) != 0) fail_msg("attribute %s is '%s', expected '%s'", name, s, want);
    free(s);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    char path[256], partial[300], err[1024];
    path_of(path, sizeof path, "rt.h5");
    snprintf(partial, sizeof partial, "%s.partial", path);
    size_t n = 100003;
    rows_t r;
    rows_make(&r, n);
    const char *inputs[] = {"a/first.h5", "/abs/second archive.h5", "third.h5"};
    h5results_meta_t meta = {inputs, 3, 4096, "limit_percent=50 risk_threshold=6"};

    int64_t before = now_us();
    h5results_writer_t *w =
        h5results_create(MPI_COMM_SELF, path, (int64_t)n, &meta, err, sizeof err);
    if (w == NULL) fail_msg("create: %s", err);
    int64_t after = now_us();
    assert_true(exists(partial));
    assert_false(exists(path));

    /* Calls of every size, not in row order: the tail first, then the
     * rest from the start in pieces of 0, 1, 7, 65536, 1, 0, 12345... */
    static const size_t sizes[] = {0, 1, 7, 65536, 1, 0, 12345, 2};
    size_t tail = 999;
    h5results_columns_t c = cols_at(&r, n - tail);
    assert_int_equal(h5results_write(w, (int64_t)(n - tail), (int64_t)tail, &c, err, sizeof err),
                     0);
    for (size_t at = 0, k = 0; at < n - tail; k++) {
        size_t take = sizes[k % (sizeof sizes / sizeof sizes[0])];
        if (take > n - tail - at) take = n - tail - at;
        c = cols_at(&r, at);
        if (h5results_write(w, (int64_t)at, (int64_t)take, &c, err, sizeof err) != 0)
            fail_msg("write %zu+%zu: %s", at, take, err);
        at += take;
    }
    /* Empty writes with no arrays at all, at the very end too. */
    assert_int_equal(h5results_write(w, (int64_t)n, 0, NULL, err, sizeof err), 0);
    assert_int_equal(h5results_write(w, 0, 0, NULL, err, sizeof err), 0);
    assert_true(exists(partial));
    assert_false(exists(path));
    if (h5results_close(w, err, sizeof err) != 0) fail_msg("close: %s", err);
    assert_false(exists(partial));
    assert_true(exists(path));

    check_file_rows(path, &r);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_int_equal(attr_i64(f, "format_version"), H5RESULTS_FORMAT_VERSION);
    assert_attr_str(f, "kind", H5RESULTS_KIND);
    int64_t created = attr_i64(f, "created_unix_us");
    assert_true(created >= before && created <= after);
    char *iso = attr_str(f, "created_iso");
    assert_int_equal(strlen(iso), strlen("2026-01-02T03:04:05.123456Z"));
    assert_int_equal(iso[strlen(iso) - 1], 'Z');
    free(iso);
    assert_int_equal(attr_i64(f, "n_rows"), (int64_t)n);
    assert_attr_str(f, "inputs", "a/first.h5\n/abs/second archive.h5\nthird.h5");
    assert_int_equal(attr_i64(f, "batch_size"), 4096);
    assert_attr_str(f, "rules", "limit_percent=50 risk_threshold=6");
    hid_t d = H5Dopen2(f, "/results/status", H5P_DEFAULT);
    assert_attr_str(d, "names", "aprovada,rejeitada,nao_processada");
    H5Dclose(d);
    d = H5Dopen2(f, "/results/reason", H5P_DEFAULT);
    char want[256] = "";
    for (int i = 0; i < REASON_COUNT; i++) {
        if (txn_reason_names[i]) strcat(want, txn_reason_names[i]);
        if (i + 1 < REASON_COUNT) strcat(want, ",");
    }
    assert_attr_str(d, "names", want);
    H5Dclose(d);
    H5Fclose(f);
    rows_free(&r);
}

/* No rows, no inputs, no meta at all: an empty but complete file. */
static void test_empty(void **state)
{
    char path[256], err[1024];
    path_of(path, sizeof path, "empty.h5");
    rows_t r;
    rows_make(&r, 0);
    h5results_writer_t *w = h5results_create(MPI_COMM_SELF, path, 0, NULL, err, sizeof err);
    if (w == NULL) fail_msg("create: %s", err);
    assert_int_equal(h5results_write(w, 0, 0, NULL, err, sizeof err), 0);
    assert_int_equal(h5results_write(w, 0, 1, NULL, err, sizeof err), -1);
    h5results_abort(w);

    w = h5results_create(MPI_COMM_SELF, path, 0, NULL, err, sizeof err);
    assert_non_null(w);
    assert_int_equal(h5results_write(w, 0, 0, NULL, err, sizeof err), 0);
    assert_int_equal(h5results_close(w, err, sizeof err), 0);
    check_file_rows(path, &r);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_int_equal(attr_i64(f, "n_rows"), 0);
    assert_int_equal(attr_i64(f, "batch_size"), 0);
    assert_attr_str(f, "inputs", "");
    assert_attr_str(f, "rules", "");
    H5Fclose(f);
    rows_free(&r);
}

static void test_publish_abort_stale(void **state)
{
    char path[256], partial[300], err[1024];
    path_of(path, sizeof path, "pub.h5");
    snprintf(partial, sizeof partial, "%s.partial", path);
    rows_t old, r;
    rows_make(&old, 10);
    rows_make(&r, 500);
    h5results_columns_t c = cols_at(&old, 0);

    /* A published file... */
    h5results_writer_t *w = h5results_create(MPI_COMM_SELF, path, 10, NULL, err, sizeof err);
    assert_non_null(w);
    assert_int_equal(h5results_write(w, 0, 10, &c, err, sizeof err), 0);
    assert_int_equal(h5results_close(w, err, sizeof err), 0);

    /* ...stays as it was while a new one is written, and after an abort. */
    w = h5results_create(MPI_COMM_SELF, path, 500, NULL, err, sizeof err);
    assert_non_null(w);
    c = cols_at(&r, 0);
    assert_int_equal(h5results_write(w, 0, 500, &c, err, sizeof err), 0);
    assert_true(exists(partial));
    check_file_rows(path, &old);
    h5results_abort(w);
    assert_false(exists(partial));
    check_file_rows(path, &old);
    h5results_abort(NULL);

    /* Abort with nothing published leaves nothing at all. */
    char other[256];
    path_of(other, sizeof other, "aborted.h5");
    w = h5results_create(MPI_COMM_SELF, other, 500, NULL, err, sizeof err);
    assert_non_null(w);
    h5results_abort(w);
    assert_false(exists(other));
    snprintf(err, sizeof err, "%s.partial", other);
    assert_false(exists(err));

    /* A stale .partial (read-only, garbage) is replaced. */
    FILE *f = fopen(partial, "w");
    assert_non_null(f);
    for (int i = 0; i < 100000; i++)
        fputs("stale ", f);
    fclose(f);
    chmod(partial, 0444);
    w = h5results_create(MPI_COMM_SELF, path, 500, NULL, err, sizeof err);
    if (w == NULL) fail_msg("create over a stale .partial: %s", err);
    assert_int_equal(h5results_write(w, 0, 500, &c, err, sizeof err), 0);
    assert_int_equal(h5results_close(w, err, sizeof err), 0);
    assert_false(exists(partial));
    check_file_rows(path, &r);
    rows_free(&old);
    rows_free(&r);
}

static void test_write_errors(void **state)
{
    char path[256], partial[300], err[1024];
    path_of(path, sizeof path, "errors.h5");
    snprintf(partial, sizeof partial, "%s.partial", path);
    rows_t r;
    rows_make(&r, 100);
    h5results_columns_t c = cols_at(&r, 0);
    static const int64_t bad[][2] = {{95, 6}, {-1, 1}, {101, 0}, {0, -1}, {INT64_MAX, 1}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        h5results_writer_t *w = h5results_create(MPI_COMM_SELF, path, 100, NULL, err, sizeof err);
        assert_non_null(w);
        assert_int_equal(h5results_write(w, 0, 50, &c, err, sizeof err), 0);
        err[0] = '\0';
        assert_int_equal(h5results_write(w, bad[k][0], bad[k][1], &c, err, sizeof err), -1);
        assert_contains(err, path);
        assert_contains(err, "holds 100 rows");
        assert_null(strchr(err, '\n'));
        /* The writer is spent: a later write or close fails, close removes it all. */
        assert_int_equal(h5results_write(w, 50, 1, &c, err, sizeof err), -1);
        assert_contains(err, "earlier write failed");
        assert_int_equal(h5results_close(w, err, sizeof err), -1);
        assert_contains(err, path);
        assert_false(exists(partial));
        assert_false(exists(path));
    }

    /* Values outside the enums name the dataset and the row; a missing array
     * names the dataset. */
    h5results_writer_t *w = h5results_create(MPI_COMM_SELF, path, 100, NULL, err, sizeof err);
    assert_non_null(w);
    r.status[37] = 3;
    assert_int_equal(h5results_write(w, 10, 50, &c, err, sizeof err), -1);
    assert_contains(err, "row 47: value 3 is outside dataset /results/status");
    h5results_abort(w);
    r.status[37] = 0;
    r.reason[2] = REASON_COUNT;
    w = h5results_create(MPI_COMM_SELF, path, 100, NULL, err, sizeof err);
    assert_int_equal(h5results_write(w, 0, 50, &c, err, sizeof err), -1);
    assert_contains(err, "row 2: value");
    assert_contains(err, "/results/reason");
    h5results_abort(w);
    r.reason[2] = 0;
    w = h5results_create(MPI_COMM_SELF, path, 100, NULL, err, sizeof err);
    h5results_columns_t hole = c;
    hole.t6 = NULL;
    assert_int_equal(h5results_write(w, 0, 5, &hole, err, sizeof err), -1);
    assert_contains(err, "/results/t6");
    h5results_abort(w);
    assert_false(exists(partial));
    assert_false(exists(path));

    /* Bad arguments to create. */
    assert_null(h5results_create(MPI_COMM_SELF, path, -1, NULL, err, sizeof err));
    assert_contains(err, path);
    assert_null(h5results_create(MPI_COMM_SELF, "", 1, NULL, err, sizeof err));
    assert_false(exists(partial));
    rows_free(&r);
}

/* create must fail naming path and leave nothing in dir. */
static void expect_create_error(const char *dir, const char *path, const char *why)
{
    char err[1024] = "";
    h5results_writer_t *w = h5results_create(MPI_COMM_SELF, path, 10, NULL, err, sizeof err);
    if (w != NULL) {
        h5results_abort(w);
        fail_msg("%s created, expected an error with '%s'", path, why);
    }
    assert_contains(err, path);
    assert_contains(err, "cannot create");
    assert_contains(err, why);
    assert_null(strchr(err, '\n'));
    char partial[300];
    snprintf(partial, sizeof partial, "%s.partial", path);
    assert_false(exists(path));
    assert_false(exists(partial));
}

static void test_cannot_create(void **state)
{
    char dir[256], path[300];
    path_of(dir, sizeof dir, "no/such/dir");
    snprintf(path, sizeof path, "%s/out.h5", dir);
    expect_create_error(dir, path, "No such file or directory");

    /* A regular file where the directory should be. */
    path_of(dir, sizeof dir, "plainfile");
    FILE *f = fopen(dir, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/out.h5", dir);
    expect_create_error(dir, path, "Not a directory");

    /* A directory without write permission (root writes there anyway). */
    path_of(dir, sizeof dir, "readonly");
    assert_int_equal(mkdir(dir, 0555), 0);
    snprintf(path, sizeof path, "%s/out.h5", dir);
    if (access(dir, W_OK) != 0)
        expect_create_error(dir, path, "Permission denied");
    else
        fprintf(stderr, "(running as root: the permission case is covered by the cases above)\n");
    chmod(dir, 0755);
}

/* Collective over MPI_COMM_WORLD (one rank as a plain test, MPI-IO under
 * mpirun): windows of rows, each split over the ranks in rank order as the
 * replay does, some ranks getting nothing; then an error on one rank only,
 * which every rank must report, and a create that fails everywhere. */
static void test_parallel(void **state)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char path[256], partial[300], err[1024];
    path_of(path, sizeof path, "parallel.h5");
    snprintf(partial, sizeof partial, "%s.partial", path);
    size_t n = 250007, window = 65536;
    rows_t r;
    rows_make(&r, n);
    const char *inputs[] = {"x.h5"};
    h5results_meta_t meta = {inputs, 1, 0, "rules of rank 0"};
    h5results_meta_t other = {NULL, 0, 99, "ignored"};
    h5results_writer_t *w = h5results_create(MPI_COMM_WORLD, path, (int64_t)n,
                                             rank == 0 ? &meta : &other, err, sizeof err);
    if (w == NULL) fail_msg("create: %s", err);
    for (size_t at = 0, k = 0; at < n; at += window, k++) {
        size_t len = n - at < window ? n - at : window;
        /* Window k: ranks (k % size) and up share it, lower ranks get nothing. */
        int skip = (int)(k % (size_t)size), parts = size - skip;
        size_t lo = 0, hi = 0;
        if (rank >= skip) {
            lo = len * (size_t)(rank - skip) / (size_t)parts;
            hi = len * (size_t)(rank - skip + 1) / (size_t)parts;
        }
        h5results_columns_t c = cols_at(&r, at + lo);
        if (h5results_write(w, (int64_t)(at + lo), (int64_t)(hi - lo), &c, err, sizeof err) != 0)
            fail_msg("rank %d: write: %s", rank, err);
    }
    if (h5results_close(w, err, sizeof err) != 0) fail_msg("rank %d: close: %s", rank, err);
    if (rank == 0) {
        assert_false(exists(partial));
        check_file_rows(path, &r);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_attr_str(f, "inputs", "x.h5");
        assert_attr_str(f, "rules", "rules of rank 0");
        assert_int_equal(attr_i64(f, "batch_size"), 0);
        H5Fclose(f);
    }

    /* The last rank writes outside the file: every rank fails with its message. */
    w = h5results_create(MPI_COMM_WORLD, path, (int64_t)n, &meta, err, sizeof err);
    assert_non_null(w);
    h5results_columns_t c = cols_at(&r, 0);
    int64_t first = rank == size - 1 ? (int64_t)n : 0, count = rank == size - 1 ? 5 : 1;
    err[0] = '\0';
    assert_int_equal(h5results_write(w, first, count, &c, err, sizeof err), -1);
    char want[128];
    assert_contains(err, path);
    snprintf(want, sizeof want, "cannot write 5 rows from row %zu", n);
    assert_contains(err, want);
    h5results_abort(w);
    MPI_Barrier(MPI_COMM_WORLD);
    assert_false(exists(partial));
    if (rank == 0) check_file_rows(path, &r); /* the published one is untouched */

    /* A create that cannot happen fails on every rank with rank 0's reason. */
    char bad[300];
    path_of(bad, sizeof bad, "missing/out.h5");
    assert_null(h5results_create(MPI_COMM_WORLD, bad, 10, &meta, err, sizeof err));
    assert_contains(err, bad);
    assert_contains(err, "No such file or directory");
    rows_free(&r);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int ok = rank != 0 || mkdtemp(tmpdir) != NULL;
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!ok) return 1;
    MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
    int failed;
    if (size == 1) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_empty),
            cmocka_unit_test(test_publish_abort_stale), cmocka_unit_test(test_write_errors),
            cmocka_unit_test(test_cannot_create),       cmocka_unit_test(test_parallel),
        };
        failed = cmocka_run_group_tests(tests, NULL, NULL);
    } else {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_parallel)};
        failed = cmocka_run_group_tests(tests, NULL, NULL);
    }
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0 && any == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    } else if (rank == 0) {
        fprintf(stderr, "files kept in %s\n", tmpdir);
    }
    MPI_Finalize();
    return any ? 1 : 0;
}
